"""The scheduling queue: activeQ (ready, by QueueSort order), backoffQ (waiting out a back-off after a
failure) and the unschedulable pods (waiting for a cluster event that may help), plus the nominator
(pods nominated to nodes by preemption)."""

from sampan.scheduler.queue.heap import KeyedHeap
from sampan.scheduler.queue.nominator import PodNominator
from sampan.scheduler.queue.scheduling_queue import QueueClosed, QueueOptions, SchedulingQueue

__all__ = ["KeyedHeap", "PodNominator", "QueueClosed", "QueueOptions", "SchedulingQueue"]
