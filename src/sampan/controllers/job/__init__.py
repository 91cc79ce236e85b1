"""The Job controller (``controller``, ``status``) and the TTL-after-finished controller (``ttl``)."""
