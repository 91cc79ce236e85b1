"""The garbage collector: an ownerReference graph built from informers on every resource that can be
listed, watched and deleted (``graph``), and the workers that delete dependents whose owners are gone
(Background), hold an owner until its blocking dependents are gone (Foreground, the ``foregroundDeletion``
finalizer) and strip owner references before an owner goes (Orphan, the ``orphan`` finalizer)
(``controller``)."""
