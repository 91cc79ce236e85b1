"""Helpers over wire-format objects (plain JSON dicts), shared by the API server, the client library
and every component: ``meta`` (accessors, keys), ``selectors`` (label and field selectors),
``validation`` (upstream name rules and metadata validation), ``quantity`` (resource quantities),
``podresources`` (effective pod requests/limits), ``podstatus`` (kubectl's pod status cells, QoS),
``humanize`` (ages, RFC 3339), ``resources`` (ResourceInfo) and ``errors`` (Status <-> exceptions)."""
