"""Pod volumes and container environment, computed from the pod and the configmaps/secrets it names.

``atomic_writer`` publishes a directory of files the way upstream does (a ``..data`` symlink swap, so a
reader never sees a half-updated volume); ``sources`` turns each volume source into files or a path;
``manager`` lays the volumes out under the pod directory and maps volumeMounts to runtime mounts;
``env`` resolves ``env``/``envFrom`` with ``$(VAR)`` expansion. Configmaps and secrets come through the
:class:`~sampan.kubelet.volumes.objects.ObjectGetter` seam (informer-backed once the client lands).
"""
