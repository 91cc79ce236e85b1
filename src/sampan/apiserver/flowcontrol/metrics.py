"""``apiserver_flowcontrol_*`` metrics, with upstream's names and labels, in the server's registry.

Per (priority level, flow schema) the hot path touches pre-resolved children (:class:`FlowMetrics`,
cached), so a request costs a few attribute updates, not label lookups. Level-wide limits are gauges
set when the configuration or the borrowing changes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

WAIT_BUCKETS = (0.0, 0.001, 0.005, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0)
EXECUTION_BUCKETS = (0.0, 0.001, 0.005, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 50.0)
SEAT_BUCKETS = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)
_PF = ["priority_level", "flow_schema"]


class FlowMetrics:
    """The children of one (level, schema) pair."""

    __slots__ = (
        "dispatched",
        "executing",
        "executing_seats",
        "execution",
        "inqueue",
        "labels",
        "owner",
        "seats",
        "wait_executed",
        "wait_rejected",
    )

    def __init__(self, owner: APFMetrics, level: str, schema: str) -> None:
        self.owner = owner
        self.labels = (level, schema)
        self.dispatched = owner.dispatched.labels(level, schema)
        self.executing = owner.executing.labels(level, schema)
        self.executing_seats = owner.executing_seats.labels(level, schema)
        self.inqueue = owner.inqueue.labels(level, schema)
        self.wait_executed = owner.wait.labels(level, schema, "true")
        self.wait_rejected = owner.wait.labels(level, schema, "false")
        self.execution = owner.execution.labels(level, schema, "regular")
        self.seats = owner.seats.labels(level, schema)

    def rejected(self, reason: str) -> None:
        self.owner.rejected.labels(*self.labels, reason).inc()


class APFMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.dispatched = Counter("apiserver_flowcontrol_dispatched_requests_total",
                                  "Number of requests executed by API Priority and Fairness subsystem", _PF, registry=r)
        self.rejected = Counter("apiserver_flowcontrol_rejected_requests_total",
                                "Number of requests rejected by API Priority and Fairness subsystem",
                                [*_PF, "reason"], registry=r)
        self.inqueue = Gauge("apiserver_flowcontrol_current_inqueue_requests",
                             "Number of requests currently pending in queues of the API Priority and Fairness "
                             "subsystem", _PF, registry=r)
        self.executing = Gauge("apiserver_flowcontrol_current_executing_requests",
                               "Number of requests in initial (for a WATCH) or any (for a non-WATCH) execution "
                               "stage in the API Priority and Fairness subsystem", _PF, registry=r)
        self.executing_seats = Gauge("apiserver_flowcontrol_current_executing_seats",
                                     "Concurrency (number of seats) occupied by the currently executing (initial "
                                     "stage for a WATCH, any stage otherwise) requests in the API Priority and "
                                     "Fairness subsystem", _PF, registry=r)
        self.wait = Histogram("apiserver_flowcontrol_request_wait_duration_seconds",
                              "Length of time a request spent waiting in its queue", [*_PF, "execute"],
                              buckets=WAIT_BUCKETS, registry=r)
        self.execution = Histogram("apiserver_flowcontrol_request_execution_seconds",
                                   "Duration of initial stage (for a WATCH) or any (for a non-WATCH) stage of "
                                   "request execution in the API Priority and Fairness subsystem",
                                   [*_PF, "type"], buckets=EXECUTION_BUCKETS, registry=r)
        self.seats = Histogram("apiserver_flowcontrol_work_estimated_seats",
                               "Number of estimated seats (maximum of initial and final seats) associated with "
                               "requests in API Priority and Fairness", _PF, buckets=SEAT_BUCKETS, registry=r)
        level = ["priority_level"]
        self.nominal = Gauge("apiserver_flowcontrol_nominal_limit_seats",
                             "Nominal number of execution seats configured for each priority level", level,
                             registry=r)
        self.current = Gauge("apiserver_flowcontrol_current_limit_seats",
                             "current derived number of execution seats available to each priority level", level,
                             registry=r)
        self.lower = Gauge("apiserver_flowcontrol_lower_limit_seats",
                           "Configured lower bound on number of execution seats available to each priority level",
                           level, registry=r)
        self.upper = Gauge("apiserver_flowcontrol_upper_limit_seats",
                           "Configured upper bound on number of execution seats available to each priority level",
                           level, registry=r)
        self.concurrency_limit = Gauge("apiserver_flowcontrol_request_concurrency_limit",
                                       "Nominal number of execution seats configured for each priority level",
                                       level, registry=r)
        self.in_use = Gauge("apiserver_flowcontrol_request_concurrency_in_use",
                            "Concurrency (number of seats) occupied by the currently executing (initial stage for a "
                            "WATCH, any stage otherwise) requests in the API Priority and Fairness subsystem",
                            level, registry=r)
        self._flows: dict[tuple[str, str], FlowMetrics] = {}

    def flow(self, level: str, schema: str) -> FlowMetrics:
        key = (level, schema)
        fm = self._flows.get(key)
        if fm is None:
            fm = self._flows[key] = FlowMetrics(self, level, schema)
        return fm

    def limits(self, level: str, *, nominal: int, current: int, lower: int, upper: float) -> None:
        self.nominal.labels(level).set(nominal)
        self.current.labels(level).set(current)
        self.lower.labels(level).set(lower)
        self.upper.labels(level).set(upper if upper != float("inf") else 0)
        self.concurrency_limit.labels(level).set(nominal)
