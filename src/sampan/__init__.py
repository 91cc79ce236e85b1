"""sampan: Kubernetes rebuilt in Python.

The package mirrors upstream's components, one folder each: ``storage`` (the MVCC store), ``apiserver``,
``client`` (informers, workqueue, leader election), ``scheduler``, ``controllers``, ``kubelet``,
``proxy``, ``dns`` and ``cli``. ``api`` holds helpers over wire-format objects; ``_lib`` holds
infrastructure named by concept (clock, back-off, task supervision).
"""

__version__ = "0.1.0"
