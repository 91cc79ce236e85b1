"""CycleState: scratch space for one scheduling cycle of one pod.

Plugins write what PreFilter/PreScore computed and read it back in Filter/Score. Keys are plugin-chosen
strings (by convention ``"PreFilter<Plugin>"``). A value that later hooks mutate (preemption adds and
removes pods on copies) must implement ``clone()``; ``CycleState.clone`` calls it so a dry run never
changes the real cycle's data. ``skip_filter`` / ``skip_score`` hold the names of plugins whose PreFilter
/ PreScore returned SKIP: the framework does not call their Filter / Score this cycle.
"""

from __future__ import annotations

from typing import Any, Protocol


class StateData(Protocol):
    def clone(self) -> StateData: ...


class CycleState:
    __slots__ = ("_data", "skip_filter", "skip_score")

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self.skip_filter: set[str] = set()
        self.skip_score: set[str] = set()

    def write(self, key: str, value: Any) -> None:
        self._data[key] = value

    def read(self, key: str) -> Any:
        """The value, or KeyError naming the key (a plugin reading state its PreFilter never wrote)."""
        try:
            return self._data[key]
        except KeyError:
            raise KeyError(f"{key!r} not found in cycle state") from None

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def clone(self) -> CycleState:
        c = CycleState()
        c._data = {k: (v.clone() if hasattr(v, "clone") else v) for k, v in self._data.items()}
        c.skip_filter = set(self.skip_filter)
        c.skip_score = set(self.skip_score)
        return c
