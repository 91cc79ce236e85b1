"""API Priority and Fairness (flowcontrol.apiserver.k8s.io/v1): the step after authentication that
decides when, or whether, a request runs, so that no client can starve the control plane.

``bootstrap`` (upstream's mandatory and suggested objects) · ``ensure`` (keeping them in the store) ·
``classify`` (FlowSchema matching) · ``estimate`` (request width in seats) · ``queueset`` (fair queuing
with shuffle sharding) · ``levels`` (seat limits and dispatch per level) · ``borrowing`` (re-dividing
seats by demand) · ``controller`` (the request path) · ``configwatch`` (configuration from the watch
cache, FlowSchema status) · ``retryafter`` (the 429's ``Retry-After`` per level) · ``metrics`` ·
``debug`` (dump endpoints) · ``filter`` (wiring; the max-in-flight fallback when APF is off).
"""
