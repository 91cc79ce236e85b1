"""In-tree plugins, one folder each, and ``in_tree_registry()`` naming their factories.

Each plugin folder holds the plugin class (its name, the events it cares about, its hooks), pure helper
functions for the rules, and a ``new(args, handle)`` factory.
"""

from sampan.scheduler.framework.registry import Registry
from sampan.scheduler.plugins import (
    defaultbinder,
    defaultpreemption,
    imagelocality,
    interpodaffinity,
    nodeaffinity,
    nodename,
    nodeports,
    noderesources,
    nodeunschedulable,
    podtopologyspread,
    prioritysort,
    tainttoleration,
    volumebinding,
)


def in_tree_registry() -> Registry:
    return Registry({
        prioritysort.NAME: prioritysort.new,
        nodename.NAME: nodename.new,
        nodeunschedulable.NAME: nodeunschedulable.new,
        noderesources.FIT_NAME: noderesources.new_fit,
        noderesources.BALANCED_NAME: noderesources.new_balanced,
        nodeports.NAME: nodeports.new,
        tainttoleration.NAME: tainttoleration.new,
        nodeaffinity.NAME: nodeaffinity.new,
        interpodaffinity.NAME: interpodaffinity.new,
        podtopologyspread.NAME: podtopologyspread.new,
        imagelocality.NAME: imagelocality.new,
        defaultpreemption.NAME: defaultpreemption.new,
        volumebinding.NAME: volumebinding.new,
        defaultbinder.NAME: defaultbinder.new,
    })
