"""Admission webhooks (admissionregistration.k8s.io/v1): the ``MutatingAdmissionWebhook`` and
``ValidatingAdmissionWebhook`` plugins of the chain.

* :mod:`.dispatcher` — the two plugins: which webhooks apply, calling them, failurePolicy, patches,
  reinvocation, warnings, dryRun;
* :mod:`.matching` — rules, matchPolicy, namespace and object selectors (pure);
* :mod:`.conditions` — ``matchConditions`` in CEL;
* :mod:`.client` — HTTPS to ``url`` or a Service's ready endpoint, ``caBundle``, upstream's error texts;
* :mod:`.review` — AdmissionReview v1 requests, responses and denials.
"""

from sampan.apiserver.admission.webhooks.dispatcher import WebhookPlugin

__all__ = ["WebhookPlugin"]
