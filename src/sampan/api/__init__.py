"""Helpers over wire-format objects (plain JSON dicts): metadata, keys, group/version/resource registry,
selectors, validation, defaults, patches, tables and errors (Status <-> exceptions). Shared by the API
server, the client library and every component."""
