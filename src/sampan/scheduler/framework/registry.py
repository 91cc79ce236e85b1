"""The registry of plugin factories: plugin name -> factory(args, handle) -> plugin instance.

A profile instantiates each plugin it names once; the same instance serves every extension point the
plugin implements. ``merge`` adds out-of-tree plugins; a duplicate name is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sampan.scheduler.framework.interface import Handle

PluginFactory = Callable[[Mapping[str, Any], Handle], object]


class Registry:
    def __init__(self, factories: Mapping[str, PluginFactory] | None = None) -> None:
        self._factories: dict[str, PluginFactory] = dict(factories or {})

    def register(self, name: str, factory: PluginFactory) -> None:
        if name in self._factories:
            raise ValueError(f"a plugin named {name!r} is already registered")
        self._factories[name] = factory

    def merge(self, other: Registry) -> Registry:
        merged = Registry(self._factories)
        for name, factory in other._factories.items():
            merged.register(name, factory)
        return merged

    def factory(self, name: str) -> PluginFactory:
        try:
            return self._factories[name]
        except KeyError:
            raise ValueError(f"plugin {name!r} does not exist (known: {', '.join(sorted(self._factories))})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._factories
