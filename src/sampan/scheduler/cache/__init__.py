"""The scheduler cache: node infos with bound and assumed pods, and the snapshot plugins read."""

from sampan.scheduler.cache.cache import Cache, CacheError
from sampan.scheduler.cache.volumes import VolumeCache
from sampan.scheduler.cache.workloads import WorkloadCache

__all__ = ["Cache", "CacheError", "VolumeCache", "WorkloadCache"]
