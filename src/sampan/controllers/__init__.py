"""kube-controller-manager (issue 7): the frame — ``runner`` (Controller protocol, one Runner owning queue,
workers and retry policy), ``expectations``, ``options`` and ``manager`` (shared informers, leader
election, the name -> factory table) — shared pod/ownership helpers (``pods``, ``ownership``,
``podcontrol``), and one folder per reconciliation loop. See docs/controllers.md."""
