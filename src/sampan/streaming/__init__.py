"""Wire codecs of Kubernetes streaming (exec, attach, port-forward), shared by the API server and the
kubelet: SPDY/3.1 framing and sessions (:mod:`.spdy`, :mod:`.session`), the WebSocket channel
protocols (:mod:`.channels`), raw upgraded connections on an aiohttp server (:mod:`.upgrade`) and the
idle-timeout watch (:mod:`.idle`). Nothing here runs commands or knows a runtime."""
