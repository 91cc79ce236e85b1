"""Cluster DNS: name-based Service discovery (not built yet)."""
