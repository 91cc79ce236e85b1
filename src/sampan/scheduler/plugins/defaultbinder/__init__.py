"""DefaultBinder: binds the pod through the scheduler's ``Binder`` (``pods/binding`` on the API server)."""

from sampan.scheduler.plugins.defaultbinder.plugin import NAME, DefaultBinder, new

__all__ = ["NAME", "DefaultBinder", "new"]
