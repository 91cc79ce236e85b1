"""The kubelet's image side: references, pull secrets, the image manager (pull policy, back-off,
events) and image garbage collection, over the runtime's CRI-shaped ImageService."""
