"""The schema generator's parsers, on small hand-written inputs shaped like upstream's files."""

from __future__ import annotations

from sampan.api.protobuf.generate import _message_row, parse_go, parse_proto, render
from sampan.api.protobuf.schema import SCHEMA
from sampan.api.protobuf.schema_table import KINDS

PROTO = """
package k8s.io.api.demo.v1;

// Widget is a demo.
message Widget {
  // Standard object's metadata.
  optional .k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta metadata = 1;

  optional WidgetSpec spec = 2;
}

message WidgetSpec {
  optional int32 replicas = 1;
  repeated string names = 2;
  map<string, .k8s.io.apimachinery.pkg.api.resource.Quantity> limits = 3;
  optional bytes blob = 4;
  optional Handler handler = 5;
  optional string mode = 6;
}

// Values masks the value so protobuf can generate
// +protobuf.nullable=true
message Values {
  repeated string items = 1;
}
"""

GO = """
type Widget struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	Spec WidgetSpec `json:"spec" protobuf:"bytes,2,opt,name=spec"`
}

type WidgetSpec struct {
	Replicas *int32 `json:"replicas,omitempty" protobuf:"varint,1,opt,name=replicas"`
	Names []string `json:"names" protobuf:"bytes,2,rep,name=names"`
	Limits map[string]resource.Quantity `json:"limits,omitempty" protobuf:"bytes,3,rep,name=limits"`
	Blob []byte `json:"blob,omitempty" protobuf:"bytes,4,opt,name=blob"`
	Handler `json:"" protobuf:"bytes,5,opt,name=handler"`
	Mode string `json:"mode" protobuf:"bytes,6,opt,name=mode"`
	Skipped int `json:"skipped" protobuf:"-"`
}
"""

PACKAGES = {"k8s.io.apimachinery.pkg.apis.meta.v1": "meta/v1", "k8s.io.apimachinery.pkg.api.resource": "resource"}


def test_parse_and_flag() -> None:
    messages = parse_proto(PROTO, "demo/v1", PACKAGES)
    structs, kinds = parse_go(GO)
    assert kinds == {"Widget"}
    assert _message_row("demo/v1.Widget", messages["demo/v1.Widget"], structs["Widget"]) == (
        "", ((1, "metadata", "opt", "meta/v1.ObjectMeta", "o"), (2, "spec", "opt", "demo/v1.WidgetSpec", "")))
    assert _message_row("demo/v1.WidgetSpec", messages["demo/v1.WidgetSpec"], structs["WidgetSpec"]) == ("", (
        (1, "replicas", "opt", "int32", "opn"),
        (2, "names", "rep", "string", "n"),
        (3, "limits", "map", "resource.Quantity", "on"),
        (4, "blob", "opt", "bytes", "on"),
        (5, "", "opt", "demo/v1.Handler", "i"),
        (6, "mode", "opt", "string", ""),
    ))
    assert _message_row("demo/v1.Values", messages["demo/v1.Values"], {})[0] == "wrapper"


def test_render_is_importable_python() -> None:
    text = render({"demo/v1.X": ("", ((1, "a", "opt", "string", "o"),))}, {"demo/v1 X": "demo/v1.X"}, "test")
    namespace: dict[str, object] = {}
    exec(compile(text, "schema_table", "exec"), namespace)
    assert namespace["KINDS"] == {"demo/v1 X": "demo/v1.X"}


def test_committed_table_is_complete() -> None:
    # every referenced message exists, every kind has a List, and the served kinds are all there
    for msg in SCHEMA.values():
        for f in msg.fields:
            assert f.message is not None or f.type in {"string", "bool", "int32", "int64", "bytes"}, f
    kinds = {k.split(" ")[1] for k in KINDS}
    for kind in ("Pod", "Node", "Namespace", "Service", "Endpoints", "ConfigMap", "Secret", "Event",
                 "ServiceAccount", "Deployment", "ReplicaSet", "Job", "Lease", "EndpointSlice", "ResourceQuota",
                 "Role", "PodDisruptionBudget", "HorizontalPodAutoscaler", "PriorityClass", "ReplicationController",
                 "Ingress", "IngressClass", "NetworkPolicy", "StorageClass", "CSIDriver", "CSINode",
                 "CSIStorageCapacity", "VolumeAttachment"):
        assert kind in kinds
        assert f"{kind}List" in kinds
    assert len(SCHEMA) > 400
