"""Helpers for tests and benchmarks that need real external processes.

``sampan.testing.etcd`` starts real etcd members (one, or an N-member cluster) on free loopback
ports with their own data directories. Nothing here imports the rest of sampan, so any layer's tests
(storage, API server, whole-cluster) can use it.
"""
