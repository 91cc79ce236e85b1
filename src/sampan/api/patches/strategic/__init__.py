"""Strategic merge patch, as upstream's apimachinery ``strategicpatch`` applies it server-side.

``apply`` merges a patch into an object guided by the schema (:class:`sampan.api.schema.TypeNode`): lists
whose field has ``patchStrategy: merge`` merge element by element (maps by their ``patchMergeKey``,
primitives as a set), other lists and ``patchStrategy: replace`` values are replaced, ``null`` deletes a
field, and the directives ``$patch`` (replace / delete / merge), ``$setElementOrder/<field>``,
``$retainKeys`` and ``$deleteFromPrimitiveList/<field>`` are honoured. ``order`` holds the list-ordering
rules; ``create`` computes the two-way patch (what ``kubectl`` sends), used by property tests.
"""

from sampan.api.patches.strategic.apply import apply_strategic_merge_patch
from sampan.api.patches.strategic.create import create_two_way

__all__ = ["apply_strategic_merge_patch", "create_two_way"]
