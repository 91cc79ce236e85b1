"""The ReplicaSet controller (``controller``) and its status computation (``status``)."""
