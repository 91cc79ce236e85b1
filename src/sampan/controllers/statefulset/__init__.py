"""The StatefulSet controller (apps/v1)."""
