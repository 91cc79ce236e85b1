"""The ``sampan`` command: one sub-command per component, plus ``up`` and ``kubeconfig``."""
