"""One module per REST verb: get, list, watch, create, update, delete, deletecollection.

Each exposes ``async def handle(request, ctx, target) -> web.StreamResponse``; ``objectmeta`` holds the
metadata work they share (body checks, generateName, system fields) and ``reads`` the read-path helpers
(resourceVersion semantics, store-backed pages). Handlers raise APIError; the error middleware renders it.
"""
