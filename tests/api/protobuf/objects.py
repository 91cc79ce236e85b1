"""Realistic objects of every kind the API server serves (and the kinds kubectl's generator commands
send), shaped as the JSON API carries them. Shared by the round-trip tests and the benchmark."""

from __future__ import annotations

import copy
from typing import Any

TS = "2026-11-26T10:00:00Z"
TS2 = "2026-11-26T10:05:30Z"
MICRO = "2026-11-26T10:00:00.123456Z"


def _meta(name: str, namespace: str | None = "prod", **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "uid": "0b6f3f9e-6a8e-4a4e-9d0c-5f1f8b5c1a01",
        "resourceVersion": "12345",
        "generation": 3,
        "creationTimestamp": TS,
        "labels": {"app": "web", "tier": "frontend"},
        "annotations": {"deployment.kubernetes.io/revision": "2", "note": "héllo ✓"},
        "managedFields": [
            {
                "manager": "kubectl-create",
                "operation": "Update",
                "apiVersion": "v1",
                "time": TS,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}},
            }
        ],
    }
    if namespace:
        meta["namespace"] = namespace
    meta.update(extra)
    return meta


CONTAINER: dict[str, Any] = {
    "name": "web",
    "image": "registry.example/web:1.2.3",
    "command": ["/bin/server"],
    "args": ["--port=8080", "--verbose"],
    "workingDir": "/srv",
    "ports": [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9090, "hostPort": 19090, "hostIP": "127.0.0.1", "protocol": "UDP"},
    ],
    "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "cfg", "optional": True}}, {"secretRef": {"name": "sec"}}],
    "env": [
        {"name": "MODE", "value": "production"},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
        {"name": "LIMIT", "valueFrom": {"resourceFieldRef": {"containerName": "web", "resource": "limits.memory",
                                                              "divisor": "1Mi"}}},
        {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pw", "optional": False}}},
        {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "a"}}},
    ],
    "resources": {
        "limits": {"cpu": "500m", "memory": "256Mi", "nvidia.com/gpu": "1"},
        "requests": {"cpu": "250m", "memory": "128Mi", "ephemeral-storage": "1Gi"},
    },
    "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
    "volumeMounts": [
        {"name": "data", "mountPath": "/data", "subPath": "web"},
        {"name": "config", "readOnly": True, "mountPath": "/etc/web", "mountPropagation": "None"},
    ],
    "volumeDevices": [{"name": "block", "devicePath": "/dev/xvda"}],
    "livenessProbe": {
        "httpGet": {"path": "/healthz", "port": 8080, "host": "127.0.0.1", "scheme": "HTTP",
                    "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
        "initialDelaySeconds": 10, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
        "failureThreshold": 3, "terminationGracePeriodSeconds": 30,
    },
    "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 5, "timeoutSeconds": 1,
                       "successThreshold": 1, "failureThreshold": 3},
    "startupProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "failureThreshold": 30, "periodSeconds": 1,
                     "timeoutSeconds": 1, "successThreshold": 1},
    "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "echo started"]}},
                  "preStop": {"sleep": {"seconds": 5}}},
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "FallbackToLogsOnError",
    "imagePullPolicy": "IfNotPresent",
    "securityContext": {
        "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
        "privileged": False,
        "runAsUser": 1000,
        "runAsGroup": 3000,
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "stdin": True,
    "tty": True,
}

POD_SPEC: dict[str, Any] = {
    "volumes": [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-pvc"}},
        {"name": "config", "configMap": {"name": "cfg", "items": [{"key": "a", "path": "a.txt", "mode": 420}],
                                         "defaultMode": 420, "optional": True}},
        {"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        {"name": "secret", "secret": {"secretName": "sec", "defaultMode": 256}},
        {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
        {"name": "proj", "projected": {"sources": [
            {"serviceAccountToken": {"audience": "api", "expirationSeconds": 3600, "path": "token"}},
            {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"apiVersion": "v1",
                                                                      "fieldPath": "metadata.labels"}}]}},
        ], "defaultMode": 420}},
        {"name": "block", "ephemeral": {"volumeClaimTemplate": {"metadata": {"labels": {"t": "x"}}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
            "storageClassName": "fast", "volumeMode": "Block"}}}},
    ],
    "initContainers": [{"name": "init", "image": "busybox", "command": ["sh", "-c", "true"], "resources": {},
                        "restartPolicy": "Always"}],
    "containers": [CONTAINER, {"name": "sidecar", "image": "envoy:1.30", "resources": {}}],
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30,
    "activeDeadlineSeconds": 3600,
    "dnsPolicy": "ClusterFirst",
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "serviceAccountName": "robot",
    "serviceAccount": "robot",
    "automountServiceAccountToken": False,
    "nodeName": "node-1",
    "shareProcessNamespace": True,
    "securityContext": {
        "runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000, "supplementalGroups": [4000, 5000],
        "fsGroupChangePolicy": "OnRootMismatch", "sysctls": [{"name": "net.core.somaxconn", "value": "1024"}],
        "seLinuxOptions": {"level": "s0:c123,c456"},
    },
    "imagePullSecrets": [{"name": "regcred"}],
    "hostname": "web-0",
    "subdomain": "web",
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a", "b"]}]}]},
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 10, "preference": {"matchFields": [
                {"key": "metadata.name", "operator": "NotIn", "values": ["node-9"]}]}}],
        },
        "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": "kubernetes.io/hostname",
            "namespaces": ["prod"]}]},
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": {
            "labelSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
            "topologyKey": "kubernetes.io/hostname", "matchLabelKeys": ["pod-template-hash"]}}]},
    },
    "schedulerName": "default-scheduler",
    "tolerations": [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300},
        {"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"},
    ],
    "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["db.local"]}],
    "priorityClassName": "high",
    "priority": 1000,
    "dnsConfig": {"nameservers": ["1.1.1.1"], "searches": ["svc.cluster.local"],
                  "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]},
    "readinessGates": [{"conditionType": "example.com/ready"}],
    "enableServiceLinks": True,
    "preemptionPolicy": "PreemptLowerPriority",
    "overhead": {"cpu": "10m"},
    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                   "whenUnsatisfiable": "DoNotSchedule",
                                   "labelSelector": {"matchLabels": {"app": "web"}}, "minDomains": 2}],
    "os": {"name": "linux"},
    "schedulingGates": [{"name": "example.com/gate"}],
}

POD: dict[str, Any] = {
    "kind": "Pod",
    "apiVersion": "v1",
    "metadata": _meta("web-5d8f7c9b4-x2x7q", generateName="web-5d8f7c9b4-", ownerReferences=[{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d8f7c9b4",
        "uid": "11111111-2222-3333-4444-555555555555", "controller": True, "blockOwnerDeletion": True}],
        finalizers=["example.com/cleanup"], deletionTimestamp=TS2, deletionGracePeriodSeconds=30),
    "spec": POD_SPEC,
    "status": {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True", "lastProbeTime": None, "lastTransitionTime": TS},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": TS,
             "reason": "Scheduled", "message": "ok"},
        ],
        "hostIP": "192.168.1.10",
        "hostIPs": [{"ip": "192.168.1.10"}],
        "podIP": "100.64.0.12",
        "podIPs": [{"ip": "100.64.0.12"}, {"ip": "fd00::12"}],
        "startTime": TS,
        "initContainerStatuses": [{
            "name": "init", "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": TS,
                                                     "finishedAt": TS2, "containerID": "containerd://aa"}},
            "lastState": {}, "ready": True, "restartCount": 0, "image": "busybox:latest",
            "imageID": "sha256:abc", "containerID": "containerd://aa", "started": False}],
        "containerStatuses": [
            {"name": "web", "state": {"running": {"startedAt": TS2}},
             "lastState": {"terminated": {"exitCode": 137, "signal": 9, "reason": "OOMKilled", "startedAt": TS,
                                          "finishedAt": TS2, "containerID": "containerd://bb"}},
             "ready": True, "restartCount": 2, "image": "registry.example/web:1.2.3", "imageID": "sha256:def",
             "containerID": "containerd://cc", "started": True,
             "allocatedResources": {"cpu": "250m"},
             "resources": {"requests": {"cpu": "250m"}}},
            {"name": "sidecar", "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
             "lastState": {}, "ready": False, "restartCount": 7, "image": "envoy:1.30", "imageID": ""},
        ],
        "qosClass": "Burstable",
    },
}

DEPLOYMENT: dict[str, Any] = {
    "kind": "Deployment",
    "apiVersion": "apps/v1",
    "metadata": _meta("web"),
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"},
                     "matchExpressions": [{"key": "tier", "operator": "Exists"}]},
        "template": {"metadata": {"creationTimestamp": None, "labels": {"app": "web", "tier": "frontend"},
                                  "annotations": {"kubectl.kubernetes.io/restartedAt": TS}},
                     "spec": POD_SPEC},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
        "minReadySeconds": 5,
        "revisionHistoryLimit": 10,
        "paused": True,
        "progressDeadlineSeconds": 600,
    },
    "status": {
        "observedGeneration": 3, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2,
        "unavailableReplicas": 1, "terminatingReplicas": 0,
        "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": TS, "lastTransitionTime": TS,
                        "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."}],
        "collisionCount": 1,
    },
}


def _with_kind(api_version: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "apiVersion": api_version, **copy.deepcopy(body)}


OBJECTS: dict[str, dict[str, Any]] = {
    "Pod": POD,
    "Deployment": DEPLOYMENT,
    "Namespace": _with_kind("v1", "Namespace", {
        "metadata": _meta("team-a", None), "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Terminating", "conditions": [{"type": "NamespaceDeletionContentFailure",
                                                           "status": "False", "lastTransitionTime": TS,
                                                           "reason": "ContentDeleted", "message": "done"}]}}),
    "Node": _with_kind("v1", "Node", {
        "metadata": _meta("node-1", None),
        "spec": {"podCIDR": "100.64.1.0/24", "podCIDRs": ["100.64.1.0/24"], "unschedulable": True,
                 "taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": TS}],
                 "providerID": "sampan://node-1"},
        "status": {
            "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
            "allocatable": {"cpu": "1900m", "memory": "3.5Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "Unknown", "lastHeartbeatTime": TS, "lastTransitionTime": TS2,
                            "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}],
            "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}, {"type": "Hostname",
                                                                              "address": "node-1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": "m", "systemUUID": "s", "bootID": "b", "kernelVersion": "6.1",
                         "osImage": "Debian", "containerRuntimeVersion": "containerd://1.7",
                         "kubeletVersion": "v1.32.0", "kubeProxyVersion": "", "operatingSystem": "linux",
                         "architecture": "amd64"},
            "images": [{"names": ["busybox:latest"], "sizeBytes": 1234567}],
            "volumesAttached": [{"name": "kubernetes.io/csi/vol", "devicePath": "/dev/sdb"}],
        }}),
    "Service": _with_kind("v1", "Service", {
        "metadata": _meta("web"),
        "spec": {"ports": [{"name": "http", "protocol": "TCP", "appProtocol": "http", "port": 80,
                            "targetPort": "http", "nodePort": 30080}],
                 "selector": {"app": "web"}, "clusterIP": "100.96.0.10", "clusterIPs": ["100.96.0.10"],
                 "type": "LoadBalancer", "externalIPs": ["203.0.113.5"], "sessionAffinity": "ClientIP",
                 "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
                 "externalTrafficPolicy": "Local", "healthCheckNodePort": 31000, "ipFamilies": ["IPv4"],
                 "ipFamilyPolicy": "SingleStack", "allocateLoadBalancerNodePorts": True,
                 "internalTrafficPolicy": "Cluster", "publishNotReadyAddresses": True},
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.5", "ipMode": "VIP",
                                                 "ports": [{"port": 80, "protocol": "TCP"}]}]}}}),
    "Endpoints": _with_kind("v1", "Endpoints", {
        "metadata": _meta("web"),
        "subsets": [{"addresses": [{"ip": "100.64.0.12", "nodeName": "node-1", "targetRef": {
            "kind": "Pod", "namespace": "prod", "name": "web-1", "uid": "u1"}}],
            "notReadyAddresses": [{"ip": "100.64.0.13", "hostname": "web-2"}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]}),
    "ConfigMap": _with_kind("v1", "ConfigMap", {
        "metadata": _meta("cfg"), "data": {"a": "1", "config.yaml": "x: 1\ny: [2]\n"},
        "binaryData": {"blob": "AAEC/w=="}, "immutable": False}),
    "Secret": _with_kind("v1", "Secret", {
        "metadata": _meta("sec"), "data": {"pw": "czNjcjN0IQ==", "empty": ""}, "type": "Opaque",
        "immutable": True}),
    "Event": _with_kind("v1", "Event", {
        "metadata": _meta("web.17a"),
        "involvedObject": {"kind": "Pod", "namespace": "prod", "name": "web-1", "uid": "u1", "apiVersion": "v1",
                           "resourceVersion": "9", "fieldPath": "spec.containers{web}"},
        "reason": "BackOff", "message": "Back-off restarting failed container", "source": {"component": "kubelet",
                                                                                          "host": "node-1"},
        "firstTimestamp": TS, "lastTimestamp": TS2, "count": 5, "type": "Warning", "eventTime": None,
        "reportingComponent": "kubelet", "reportingInstance": "node-1"}),
    "ServiceAccount": _with_kind("v1", "ServiceAccount", {
        "metadata": _meta("robot"), "secrets": [{"name": "robot-token"}], "imagePullSecrets": [{"name": "regcred"}],
        "automountServiceAccountToken": False}),
    "ReplicaSet": _with_kind("apps/v1", "ReplicaSet", {
        "metadata": _meta("web-5d8f7c9b4"),
        "spec": {"replicas": 0, "minReadySeconds": 5, "selector": {"matchLabels": {"app": "web"}},
                 "template": DEPLOYMENT["spec"]["template"]},
        "status": {"replicas": 0, "fullyLabeledReplicas": 0, "observedGeneration": 4,
                   "conditions": [{"type": "ReplicaFailure", "status": "True", "lastTransitionTime": TS,
                                   "reason": "FailedCreate", "message": "quota"}]}}),
    "Job": _with_kind("batch/v1", "Job", {
        "metadata": _meta("pi"),
        "spec": {"parallelism": 2, "completions": 4, "activeDeadlineSeconds": 600, "backoffLimit": 6,
                 "backoffLimitPerIndex": 1, "maxFailedIndexes": 2, "completionMode": "Indexed",
                 "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}}, "manualSelector": False,
                 "template": {"metadata": {"creationTimestamp": None}, "spec": {
                     "containers": [{"name": "pi", "image": "perl", "command": ["perl", "-e", "print 1"],
                                     "resources": {}}], "restartPolicy": "Never"}},
                 "ttlSecondsAfterFinished": 100, "suspend": False, "podReplacementPolicy": "Failed",
                 "podFailurePolicy": {"rules": [
                     {"action": "FailJob", "onExitCodes": {"containerName": "pi", "operator": "In",
                                                           "values": [1, 2, 42]}},
                     {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]},
                 "successPolicy": {"rules": [{"succeededIndexes": "0-2", "succeededCount": 2}]}},
        "status": {"conditions": [{"type": "Complete", "status": "True", "lastProbeTime": TS,
                                   "lastTransitionTime": TS2}],
                   "startTime": TS, "completionTime": TS2, "succeeded": 4, "failed": 1, "ready": 0, "terminating": 0,
                   "completedIndexes": "0-3", "uncountedTerminatedPods": {"succeeded": ["u1"], "failed": ["u2"]}}}),
    "Lease": _with_kind("coordination.k8s.io/v1", "Lease", {
        "metadata": _meta("kube-scheduler", "kube-system"),
        "spec": {"holderIdentity": "node-1_abc", "leaseDurationSeconds": 15, "acquireTime": MICRO,
                 "renewTime": "2026-11-26T10:00:10.000001Z", "leaseTransitions": 0,
                 "strategy": "OldestEmulationVersion",                 "preferredHolder": "node-2"}}),
    "EndpointSlice": _with_kind("discovery.k8s.io/v1", "EndpointSlice", {
        "metadata": _meta("web-abc12"), "addressType": "IPv4",
        "endpoints": [{"addresses": ["100.64.0.12"], "conditions": {"ready": True, "serving": True,
                                                                    "terminating": False},
                       "hostname": "web-1", "targetRef": {"kind": "Pod", "namespace": "prod", "name": "web-1",
                                                          "uid": "u1"},
                       "nodeName": "node-1", "zone": "a", "hints": {"forZones": [{"name": "a"}]}}],
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080, "appProtocol": "http"}]}),
    "events.k8s.io/Event": _with_kind("events.k8s.io/v1", "Event", {
        "metadata": _meta("web.17b"), "eventTime": MICRO, "series": {"count": 3, "lastObservedTime": MICRO},
        "reportingController": "kubelet", "reportingInstance": "node-1", "action": "Pulling", "reason": "Pulling",
        "regarding": {"kind": "Pod", "namespace": "prod", "name": "web-1"}, "note": "Pulling image",
        "type": "Normal", "deprecatedSource": {}, "deprecatedFirstTimestamp": None,
        "deprecatedLastTimestamp": None, "deprecatedCount": 0}),
    "TokenRequest": _with_kind("authentication.k8s.io/v1", "TokenRequest", {
        "metadata": {"name": "robot", "namespace": "prod", "creationTimestamp": TS},
        "spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3600,
                 "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web-1", "uid": "u1"}},
        "status": {"token": "eyJhbGciOi.x.y", "expirationTimestamp": TS2}}),
    "SelfSubjectAccessReview": _with_kind("authorization.k8s.io/v1", "SelfSubjectAccessReview", {
        "metadata": {"creationTimestamp": None},
        "spec": {"resourceAttributes": {"namespace": "prod", "verb": "list", "group": "apps",
                                        "resource": "deployments", "subresource": "scale", "name": "web",
                                        "fieldSelector": {"requirements": [{"key": "a", "operator": "In",
                                                                            "values": ["b"]}]}}},
        "status": {"allowed": True, "reason": "RBAC: allowed by RoleBinding \"rb/prod\""}}),
    "SubjectAccessReview": _with_kind("authorization.k8s.io/v1", "SubjectAccessReview", {
        "metadata": {"creationTimestamp": None},
        "spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}, "user": "alice",
                 "groups": ["system:authenticated"], "extra": {"scopes": ["a", "b"], "empty": None},
                 "uid": "42"},
        "status": {"allowed": False, "denied": True, "evaluationError": "x"}}),
    "ResourceQuota": _with_kind("v1", "ResourceQuota", {
        "metadata": _meta("q"),
        "spec": {"hard": {"cpu": "1", "memory": "1Gi", "pods": "10"}, "scopes": ["NotTerminating"],
                 "scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In",
                                                         "values": ["high"]}]}},
        "status": {"hard": {"cpu": "1"}, "used": {"cpu": "250m"}}}),
    "Role": _with_kind("rbac.authorization.k8s.io/v1", "Role", {
        "metadata": _meta("reader"),
        "rules": [{"verbs": ["get", "list"], "apiGroups": ["", "apps"], "resources": ["pods", "deployments"],
                   "resourceNames": ["x"]}]}),
    "PodDisruptionBudget": _with_kind("policy/v1", "PodDisruptionBudget", {
        "metadata": _meta("pdb"),
        "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}},
                 "unhealthyPodEvictionPolicy": "AlwaysAllow"},
        "status": {"observedGeneration": 2, "disruptedPods": {"web-1": TS}, "disruptionsAllowed": 1,
                   "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3,
                   "conditions": [{"type": "DisruptionAllowed", "status": "True", "observedGeneration": 2,
                                   "lastTransitionTime": TS, "reason": "SufficientPods", "message": ""}]}}),
    "HorizontalPodAutoscaler/v1": _with_kind("autoscaling/v1", "HorizontalPodAutoscaler", {
        "metadata": _meta("web"),
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                 "minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 80},
        "status": {"observedGeneration": 1, "lastScaleTime": TS, "currentReplicas": 2, "desiredReplicas": 3,
                   "currentCPUUtilizationPercentage": 91}}),
    "HorizontalPodAutoscaler/v2": _with_kind("autoscaling/v2", "HorizontalPodAutoscaler", {
        "metadata": _meta("web"),
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                 "minReplicas": 2, "maxReplicas": 5,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                     "type": "Utilization", "averageUtilization": 80}}},
                     {"type": "Pods", "pods": {"metric": {"name": "rps", "selector": {"matchLabels": {"a": "b"}}},
                                               "target": {"type": "AverageValue", "averageValue": "1k"}}}],
                 "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                                            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                                            "tolerance": "50m"}}},
        "status": {"currentReplicas": 2, "desiredReplicas": 3, "currentMetrics": None,
                   "conditions": [{"type": "AbleToScale", "status": "True", "lastTransitionTime": TS,
                                   "reason": "ReadyForNewScale"}]}}),
    "PriorityClass": _with_kind("scheduling.k8s.io/v1", "PriorityClass", {
        "metadata": _meta("high", None), "value": -5, "globalDefault": True, "description": "important",
        "preemptionPolicy": "Never"}),
    "Ingress": _with_kind("networking.k8s.io/v1", "Ingress", {
        "metadata": _meta("web"),
        "spec": {"ingressClassName": "nginx",
                 "defaultBackend": {"resource": {"apiGroup": "k8s.example.com", "kind": "Bucket", "name": "static"}},
                 "tls": [{"hosts": ["foo.com"], "secretName": "foo-tls"}],
                 "rules": [{"host": "foo.com", "http": {"paths": [
                     {"path": "/bar", "pathType": "Exact",
                      "backend": {"service": {"name": "svc1", "port": {"number": 8080}}}},
                     {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "svc2",
                                                                                 "port": {"name": "http"}}}}]}}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10", "ports": [
            {"port": 443, "protocol": "TCP", "error": "Pending"}]}, {"hostname": "lb.example.com"}]}}}),
    "NetworkPolicy": _with_kind("networking.k8s.io/v1", "NetworkPolicy", {
        "metadata": _meta("db"),
        "spec": {"podSelector": {"matchLabels": {"role": "db"}},
                 "ingress": [{"from": [{"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}},
                                       {"namespaceSelector": {"matchExpressions": [
                                           {"key": "team", "operator": "In", "values": ["a", "b"]}]},
                                        "podSelector": {}}],
                              "ports": [{"protocol": "TCP", "port": 6379}, {"protocol": "UDP", "port": "dns"}]}],
                 "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}],
                             "ports": [{"protocol": "TCP", "port": 5978, "endPort": 6000}]}],
                 "policyTypes": ["Ingress", "Egress"]}}),
    "IngressClass": _with_kind("networking.k8s.io/v1", "IngressClass", {
        "metadata": _meta("nginx", None),
        "spec": {"controller": "k8s.io/ingress-nginx", "parameters": {
            "apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "lb", "scope": "Namespace",
            "namespace": "prod"}}}),
    "CSINode": _with_kind("storage.k8s.io/v1", "CSINode", {
        "metadata": _meta("node-1", None),
        "spec": {"drivers": [{"name": "csi.example.com", "nodeID": "i-123",
                              "topologyKeys": ["topology.kubernetes.io/zone"], "allocatable": {"count": 0}}]}}),
    "CSIStorageCapacity": _with_kind("storage.k8s.io/v1", "CSIStorageCapacity", {
        "metadata": _meta("cap-1"), "storageClassName": "fast", "capacity": "10Gi", "maximumVolumeSize": "1Ti",
        "nodeTopology": {"matchLabels": {"topology.kubernetes.io/zone": "a"}}}),
    "StorageClass": _with_kind("storage.k8s.io/v1", "StorageClass", {
        "metadata": _meta("fast", None, annotations={"storageclass.kubernetes.io/is-default-class": "true"}),
        "provisioner": "csi.example.com", "parameters": {"type": "ssd"}, "reclaimPolicy": "Retain",
        "mountOptions": ["debug"], "allowVolumeExpansion": True, "volumeBindingMode": "WaitForFirstConsumer",
        "allowedTopologies": [{"matchLabelExpressions": [{"key": "topology.kubernetes.io/zone",
                                                          "values": ["a", "b"]}]}]}),
    "CSIDriver": _with_kind("storage.k8s.io/v1", "CSIDriver", {
        "metadata": _meta("csi.example.com", None),
        "spec": {"attachRequired": False, "podInfoOnMount": True, "volumeLifecycleModes": ["Persistent", "Ephemeral"],
                 "storageCapacity": True, "fsGroupPolicy": "File",
                 "tokenRequests": [{"audience": "vault", "expirationSeconds": 3600}], "requiresRepublish": True,
                 "seLinuxMount": False}}),
    "VolumeAttachment": _with_kind("storage.k8s.io/v1", "VolumeAttachment", {
        "metadata": _meta("va-1", None),
        "spec": {"attacher": "csi.example.com", "source": {"persistentVolumeName": "pv-1"}, "nodeName": "node-1"},
        "status": {"attached": True, "attachmentMetadata": {"devicePath": "/dev/sdb"},
                   "detachError": {"time": TS, "message": "busy"}}}),
    "ReplicationController": _with_kind("v1", "ReplicationController", {
        "metadata": _meta("rc", generation=2),
        "spec": {"replicas": 0, "minReadySeconds": 5, "selector": {"app": "rc"},
                 "template": {"metadata": {"labels": {"app": "rc"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {}}]}}},
        "status": {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 1, "availableReplicas": 1,
                   "observedGeneration": 2, "conditions": [{"type": "ReplicaFailure", "status": "True",
                                                            "lastTransitionTime": TS, "reason": "FailedCreate",
                                                            "message": "quota"}]}}),
    "Status": {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": 'pods "x" is invalid: spec.containers: Required value', "reason": "Invalid",
               "details": {"name": "x", "kind": "pods", "causes": [
                   {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"}],
                   "retryAfterSeconds": 1}, "code": 422},
    "DeleteOptions": {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                      "preconditions": {"uid": "u1", "resourceVersion": "7"}, "propagationPolicy": "Foreground",
                      "dryRun": ["All"], "orphanDependents": False},
    "PodList": {"kind": "PodList", "apiVersion": "v1",
                "metadata": {"resourceVersion": "99", "continue": "tok", "remainingItemCount": 5},
                "items": [{k: v for k, v in POD.items() if k not in ("kind", "apiVersion")},
                          {"metadata": {"name": "b", "creationTimestamp": None}, "spec": {"containers": None},
                           "status": {}}]},
}
