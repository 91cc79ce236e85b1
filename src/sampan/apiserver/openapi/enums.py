"""The ``enum`` lists upstream's ``/openapi/v3`` carries on string fields whose Go type is marked ``+enum``
(``kubectl explain`` prints them: ``enum: Always, Never, OnFailure``).

Data, not code: definition name -> property -> the allowed values, sorted as kube-openapi writes them.
The definitions sampan loads (:mod:`.schemas`) come without them, so this table restores them for the
fields users look up most (Kubernetes 1.32 values); fields not listed have no ``enum``, as before.
Only fields whose stored values are always one of these are listed: the server's own responses must
conform to the schema it publishes.
"""

from __future__ import annotations

_CORE = "io.k8s.api.core.v1."
_PROTOCOL = ("SCTP", "TCP", "UDP")
_EFFECT = ("NoExecute", "NoSchedule", "PreferNoSchedule")
_PULL = ("Always", "IfNotPresent", "Never")
_MESSAGE_POLICY = ("FallbackToLogsOnError", "File")
_TRAFFIC = ("Cluster", "Local")
_RECLAIM = ("Delete", "Recycle", "Retain")
_VOLUME_MODE = ("Block", "Filesystem")
_UPDATE = ("OnDelete", "RollingUpdate")

ENUMS: dict[str, dict[str, tuple[str, ...]]] = {
    _CORE + "Container": {"imagePullPolicy": _PULL, "terminationMessagePolicy": _MESSAGE_POLICY},
    _CORE + "EphemeralContainer": {"imagePullPolicy": _PULL, "terminationMessagePolicy": _MESSAGE_POLICY},
    _CORE + "ContainerPort": {"protocol": _PROTOCOL},
    _CORE + "PodSpec": {"restartPolicy": ("Always", "Never", "OnFailure"),
                        "dnsPolicy": ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"),
                        "preemptionPolicy": ("Never", "PreemptLowerPriority")},
    _CORE + "PodStatus": {"phase": ("Failed", "Pending", "Running", "Succeeded", "Unknown"),
                          "qosClass": ("BestEffort", "Burstable", "Guaranteed")},
    _CORE + "ServiceSpec": {"type": ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort"),
                            "sessionAffinity": ("ClientIP", "None"), "externalTrafficPolicy": _TRAFFIC,
                            "internalTrafficPolicy": _TRAFFIC,
                            "ipFamilyPolicy": ("PreferDualStack", "RequireDualStack", "SingleStack")},
    _CORE + "ServicePort": {"protocol": _PROTOCOL},
    _CORE + "EndpointPort": {"protocol": _PROTOCOL},
    _CORE + "Toleration": {"effect": _EFFECT, "operator": ("Equal", "Exists")},
    _CORE + "Taint": {"effect": _EFFECT},
    _CORE + "NodeSelectorRequirement": {"operator": ("DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn")},
    _CORE + "HTTPGetAction": {"scheme": ("HTTP", "HTTPS")},
    _CORE + "SeccompProfile": {"type": ("Localhost", "RuntimeDefault", "Unconfined")},
    _CORE + "PersistentVolumeSpec": {"persistentVolumeReclaimPolicy": _RECLAIM, "volumeMode": _VOLUME_MODE},
    _CORE + "PersistentVolumeClaimSpec": {"volumeMode": _VOLUME_MODE},
    _CORE + "NamespaceStatus": {"phase": ("Active", "Terminating")},
    "io.k8s.api.apps.v1.DeploymentStrategy": {"type": ("Recreate", "RollingUpdate")},
    "io.k8s.api.apps.v1.DaemonSetUpdateStrategy": {"type": _UPDATE},
    "io.k8s.api.apps.v1.StatefulSetUpdateStrategy": {"type": _UPDATE},
    "io.k8s.api.apps.v1.StatefulSetSpec": {"podManagementPolicy": ("OrderedReady", "Parallel")},
    "io.k8s.api.batch.v1.JobSpec": {"completionMode": ("Indexed", "NonIndexed"),
                                    "podReplacementPolicy": ("Failed", "TerminatingOrFailed")},
    "io.k8s.api.batch.v1.CronJobSpec": {"concurrencyPolicy": ("Allow", "Forbid", "Replace")},
    "io.k8s.api.batch.v1.PodFailurePolicyRule": {"action": ("Count", "FailIndex", "FailJob", "Ignore")},
    "io.k8s.api.storage.v1.StorageClass": {"reclaimPolicy": _RECLAIM,
                                           "volumeBindingMode": ("Immediate", "WaitForFirstConsumer")},
}
