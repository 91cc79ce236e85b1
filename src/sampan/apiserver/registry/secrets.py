"""core/v1 secrets: ``type`` (default Opaque, immutable, a field selector) with upstream's per-type
required keys, base64 ``data`` with config-key names, ``stringData`` folded into ``data`` on write
(and dropped, as upstream), 1 MiB total, and ``immutable: true``."""

from __future__ import annotations

import base64
from typing import Any, ClassVar

from sampan.api import gobase64, meta, validation
from sampan.api.errors import Cause, invalid, required
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict
from sampan.apiserver.registry.configmaps import MAX_TOTAL_BYTES, validate_immutable_content, validate_key_maps
from sampan.apiserver.registry.strategy import Object, TableColumn

SA_TOKEN = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}
"""Keys each typed secret must carry in ``data`` (upstream ``ValidateSecret``)."""


class SecretStrategy(BaseStrategy):
    info = ResourceInfo(
        group="", version="v1", resource="secrets", kind="Secret", singular="secret", namespaced=True,
    )
    defaults = (("type", "Opaque"),)
    selectable_fields = (("type", "type"),)
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Type", description="Used to facilitate programmatic handling of secret data."),
        TableColumn("Data", description="Data contains the secret data. Each key must consist of alphanumeric "
                    "characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded "
                    "string, representing the arbitrary (possibly non-string) data value here."),
        AGE_COLUMN,
    )

    def default(self, obj: Object) -> None:
        fold_string_data(obj)

    def validate_spec(self, obj: Object) -> list[Cause]:
        causes = validate_key_maps(obj, ("data",), limit=None, limit_path="data")
        total = 0
        for key, value in as_dict(obj.get("data")).items():
            if not isinstance(value, str):
                continue
            try:  # decoded on the way in (sampan.apiserver.bytefields); kept for direct callers
                total += len(gobase64.decode(value))
            except gobase64.CorruptInput:
                causes.append(invalid(f"data[{key}]", "<secret contents redacted>", "illegal base64 data"))
        if total > MAX_TOTAL_BYTES:
            causes.append(Cause("FieldValueTooLong", "data", f"Too long: must have at most {MAX_TOTAL_BYTES} bytes"))
        stype = obj.get("type")
        data = as_dict(obj.get("data"))
        for key in REQUIRED_KEYS.get(str(stype), ()):
            if key not in data:
                causes.append(required(f"data[{key}]"))
        if stype == SA_TOKEN and not meta.annotations(obj).get(SA_NAME_ANNOTATION):
            causes.append(required(f"metadata.annotations[{SA_NAME_ANNOTATION}]"))
        if stype == "kubernetes.io/basic-auth" and not ({"username", "password"} & set(data)):
            causes.append(Cause("FieldValueRequired", "data[username]",
                                "Required value: either username or password is required"))
        return causes

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        causes = validation.validate_immutable(obj.get("type"), old.get("type"), "type")
        return causes + validate_immutable_content(obj, old, ("data",))

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return False

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        return [str(obj.get("type") or ""), len(as_dict(obj.get("data"))), age_cell(obj, now)]


def fold_string_data(obj: Object) -> None:
    """Move ``stringData`` into ``data`` (base64), overriding keys in both, as upstream's conversion."""
    string_data = obj.pop("stringData", None)
    if not isinstance(string_data, dict) or not string_data:
        return
    data = obj.get("data")
    if not isinstance(data, dict):
        data = obj["data"] = {}
    for key, value in string_data.items():
        if isinstance(value, str):
            data[key] = base64.b64encode(value.encode()).decode()
