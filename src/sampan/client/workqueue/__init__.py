"""Work queues for controllers: a de-duplicating queue where one key is never processed by two workers at
once (:class:`WorkQueue`), delays (:class:`DelayingQueue`) and per-item rate limiting
(:class:`RateLimitingQueue` with the limiters of :mod:`.rate_limiters`). asyncio-native: workers are
tasks calling ``await queue.get()`` … ``queue.done(key)``."""

from sampan.client.workqueue.delaying import DelayingQueue, RateLimitingQueue
from sampan.client.workqueue.queue import ShutDown, WorkQueue
from sampan.client.workqueue.rate_limiters import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    default_controller_rate_limiter,
)

__all__ = [
    "BucketRateLimiter",
    "DelayingQueue",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "RateLimitingQueue",
    "ShutDown",
    "WorkQueue",
    "default_controller_rate_limiter",
]
