"""ResourceQuota arithmetic shared by the API server's ``ResourceQuota`` admission plugin and the
controller-manager's resource-quota controller (upstream's ``k8s.io/apiserver/pkg/quota/v1`` and
``pkg/quota/v1/evaluator/core``): resource lists as maps of quantities (:mod:`.resourcelist`), what an
object costs (:mod:`.evaluators`) and which quotas an object falls under (:mod:`.scopes`).
"""
