"""ImageLocality: prefer nodes that already hold the pod's images, weighted by image size and by how
widely the image is spread (so one node holding a popular image is not a magnet)."""

from sampan.scheduler.plugins.imagelocality.plugin import NAME, ImageLocality, calculate_priority, new

__all__ = ["NAME", "ImageLocality", "calculate_priority", "new"]
