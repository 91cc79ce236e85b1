"""The certificates controllers of kube-controller-manager: ``csrsigning`` (the built-in
``kubernetes.io/*`` signers, :mod:`.signer` with each signer's restrictions in :mod:`.signers`),
``csrapproving`` (auto-approval of kubelet client certificates after a SubjectAccessReview,
:mod:`.approver`) and ``csrcleaner`` (removal of old requests, :mod:`.cleaner`). Shared CSR reading is in
:mod:`.requests`."""
