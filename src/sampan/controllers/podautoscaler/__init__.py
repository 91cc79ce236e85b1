"""The HorizontalPodAutoscaler controller (autoscaling/v2, resource metrics through metrics.k8s.io)."""
