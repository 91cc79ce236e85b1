"""The CRI runtime: sampan's ``runtime.v1`` proto subset (``api.proto``, stubs generated on first import
by :mod:`.protos`), an asyncio gRPC client (:mod:`.client`), and the kubelet's Runtime and ImageService
over it (:mod:`.runtime`, :mod:`.images`) for containerd or any other CRI runtime."""
