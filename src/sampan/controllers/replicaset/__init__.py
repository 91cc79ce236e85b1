"""The ReplicaSet controller (``controller``) and its status computation (``status``); the same code also
reconciles ReplicationControllers (``controller.REPLICATION_CONTROLLER``)."""
