"""Parsing kubelet /metrics/resource and turning two scrapes into usage rates."""

from __future__ import annotations

from sampan.metricsserver.scrape import Store, parse

SCRAPE_1 = """# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="c",namespace="ns",pod="p"} 10.0 1000000
container_memory_working_set_bytes{container="c",namespace="ns",pod="p"} 1048576.0 1000000
node_cpu_usage_seconds_total 100.0 1000000
node_memory_working_set_bytes 2.5e9 1000000
scrape_error 0
"""


def later(cpu: float, node_cpu: float, ms: int) -> str:
    return (SCRAPE_1.replace("10.0 1000000", f"{cpu} {ms}").replace("100.0 1000000", f"{node_cpu} {ms}")
            .replace("1048576.0 1000000", f"2097152.0 {ms}").replace("2.5e9 1000000", f"2.5e9 {ms}"))


def test_parse_reads_names_labels_values_and_timestamps() -> None:
    samples = parse(SCRAPE_1)
    assert ("container_cpu_usage_seconds_total", {"container": "c", "namespace": "ns", "pod": "p"}, 10.0,
            1000.0) in samples
    assert ("scrape_error", {}, 0.0, None) in samples


def test_rates_need_two_scrapes_and_reset_on_restart() -> None:
    store = Store()
    store.ingest("n1", SCRAPE_1, scraped_at=1000.0)
    series = store.nodes["n1"].containers[("ns", "p", "c")]
    assert series.nano_cores() is None
    store.ingest("n1", later(10.5, 101.0, 1002000), scraped_at=1002.0)
    assert series.nano_cores() == 250_000_000  # 0.5 s of CPU over 2 s
    assert series.memory_bytes == 2097152.0
    assert store.nodes["n1"].node.nano_cores() == 500_000_000
    store.ingest("n1", later(0.1, 102.0, 1004000), scraped_at=1004.0)  # the container restarted
    assert series.nano_cores() is None


def test_containers_gone_from_a_scrape_are_forgotten() -> None:
    store = Store()
    store.ingest("n1", SCRAPE_1, scraped_at=1000.0)
    store.ingest("n1", "node_cpu_usage_seconds_total 101.0 1002000\n", scraped_at=1002.0)
    assert store.nodes["n1"].containers == {}
