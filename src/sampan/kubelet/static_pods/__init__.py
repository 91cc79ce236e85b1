"""Static pods: pods the kubelet reads from files (``--pod-manifest-path``) and runs without the API server,
as kubeadm runs the control plane. ``manifests.py`` reads a directory into pods with upstream's defaults
(name ``<pod>-<node>``, uid = a hash of the file, the ``kubernetes.io/config.*`` annotations);
``mirror.py`` builds the mirror pod that makes a static pod visible in the API; ``manager.py`` owns the set
of static pods, hands them to the pod workers, keeps their mirror pods in the API and routes their status
there; ``runtime.py`` lets static pods run on the process runtime under a kubelet whose other pods are
simulated. See docs/kubelet.md."""
