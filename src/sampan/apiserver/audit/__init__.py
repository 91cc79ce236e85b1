"""Audit logging (kube-apiserver's ``--audit-*`` flags): a chronological record of who did what.

:mod:`.policy` decides the level of each request (``audit.k8s.io/v1`` Policy), :mod:`.event` builds the
``audit.k8s.io/v1`` Events of its stages, :mod:`.middleware` hooks them into the request path,
:mod:`.context` lets admission add annotations, :mod:`.backend` (log file with :mod:`.rotation`) and
:mod:`.webhook` deliver them without making requests wait. :func:`.setup.install` wires it all into an app.
"""
