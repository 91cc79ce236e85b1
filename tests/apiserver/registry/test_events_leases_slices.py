"""Core and events.k8s.io events, leases and endpoint slices."""

from __future__ import annotations

from typing import Any

from sampan.apiserver.registry.endpointslices import EndpointSliceStrategy
from sampan.apiserver.registry.events import EventStrategy
from sampan.apiserver.registry.events_v1 import EventV1Strategy
from sampan.apiserver.registry.leases import LeaseStrategy

NOW = 1_704_067_200.0 + 100


def obj(**fields: Any) -> dict[str, Any]:
    return {"metadata": {"name": "x.17a", "namespace": "default", "creationTimestamp": "2024-01-01T00:00:00Z"},
            **fields}


def described(strategy: Any, o: dict[str, Any]) -> list[str]:
    return [c.describe() for c in strategy.validate(o)]


def core_event(**fields: Any) -> dict[str, Any]:
    return obj(involvedObject={"kind": "Pod", "name": "web", "namespace": "default", "fieldPath": "spec.containers{c}"},
               reason="Pulled", message=" Pulled image \n", type="Normal",
               source={"component": "kubelet", "host": "node-1"}, firstTimestamp="2024-01-01T00:00:00Z",
               lastTimestamp="2024-01-01T00:01:00Z", count=3, **fields)


def test_core_event() -> None:
    s = EventStrategy()
    ev = core_event()
    assert described(s, ev) == []
    assert [c.name for c in s.table_columns()] == [
        "Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen", "Count", "Name"]
    assert s.table_row(ev, NOW) == ["40s", "Normal", "Pulled", "pod/web", "spec.containers{c}", "kubelet, node-1",
                                    "Pulled image", "100s", 3, "x.17a"]
    values = s.field_values(ev)
    assert values["involvedObject.name"] == "web"
    assert values["source"] == "kubelet"
    assert values["reason"] == "Pulled"
    assert values["type"] == "Normal"
    assert values["reportingComponent"] == ""

    wrong_ns = core_event()
    wrong_ns["involvedObject"]["namespace"] = "other"
    assert described(s, wrong_ns) == [
        'involvedObject.namespace: Invalid value: "other": does not match event.namespace']

    new_style = obj(involvedObject={"kind": "Node", "name": "n"}, eventTime="2024-01-01T00:00:00.000000Z")
    got = described(s, new_style)
    assert {"reportingComponent: Required value", "reportingInstance: Required value", "action: Required value",
            "reason: Required value"} <= set(got)


def test_events_v1() -> None:
    s = EventV1Strategy()
    ev = obj(eventTime="2024-01-01T00:00:00.000000Z", type="Warning", reason="Failed", action="Pulling",
             reportingController="kubelet", reportingInstance="node-1", note="boom",
             regarding={"kind": "Pod", "name": "web", "namespace": "default"},
             series={"count": 4, "lastObservedTime": "2024-01-01T00:01:30.000000Z"})
    assert described(s, ev) == []
    assert s.table_row(ev, NOW) == ["10s", "Warning", "Failed", "pod/web", "", "kubelet, node-1", "boom", "100s", 4,
                                    "x.17a"]
    assert s.field_values(ev)["regarding.name"] == "web"
    assert s.field_values(ev)["source"] == "kubelet"  # reportingController when deprecatedSource is empty
    bad = obj(type="Info", deprecatedCount=2, series={"count": 1})
    got = described(s, bad)
    assert "eventTime: Required value" in got
    assert 'type: Invalid value: "": has invalid value: Info' in got
    assert 'deprecatedCount: Invalid value: "": needs to be unset' in got
    assert 'series.count: Invalid value: "": should be at least 2' in got


def test_lease() -> None:
    s = LeaseStrategy()
    lease = obj(spec={"holderIdentity": "node-1", "leaseDurationSeconds": 40,
                      "renewTime": "2024-01-01T00:00:00.123456Z"})
    assert described(s, lease) == []
    assert s.table_row(lease, NOW) == ["x.17a", "node-1", "100s"]
    bad = obj(spec={"leaseDurationSeconds": 0, "leaseTransitions": -1, "renewTime": "yesterday"})
    got = described(s, bad)
    assert "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0" in got
    assert "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0" in got
    assert any(g.startswith("spec.renewTime") for g in got)
    renewed = obj(spec={"holderIdentity": "node-1", "renewTime": "2024-01-01T00:00:10Z"})
    assert not s.spec_changed(renewed, lease)


def test_endpointslice() -> None:
    s = EndpointSliceStrategy()
    sl = obj(addressType="IPv4", endpoints=[{"addresses": [f"10.0.0.{i}"]} for i in range(5)],
             ports=[{"port": 80, "name": "http"}, {"name": "dns"}])
    s.prepare_for_create(sl)
    assert sl["ports"][0]["protocol"] == "TCP"
    assert described(s, sl) == []
    assert [c.name for c in s.table_columns()] == ["Name", "AddressType", "Ports", "Endpoints", "Age"]
    assert s.table_row(sl, NOW) == ["x.17a", "IPv4", "80,dns", "10.0.0.0,10.0.0.1,10.0.0.2 + 2 more...", "100s"]
    assert s.table_row(obj(addressType="IPv4"), NOW)[2:4] == ["<unset>", "<unset>"]
    bad = obj(addressType="IPv5", endpoints=[{"addresses": []}, {"addresses": ["fd00::1"]}])
    got = described(s, bad)
    assert any(g.startswith('addressType: Unsupported value: "IPv5"') for g in got)
    assert "endpoints[0].addresses: Required value: must contain at least 1 address" in got
    v4 = obj(addressType="IPv4", endpoints=[{"addresses": ["fd00::1"]}])
    assert described(s, v4) == ['endpoints[0].addresses[0]: Invalid value: "fd00::1": must be an IPv4 address']
    changed = obj(addressType="IPv6")
    assert [c.field for c in s.validate_update(changed, obj(addressType="IPv4"))] == ["addressType"]
