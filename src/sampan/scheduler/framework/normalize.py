"""Score normalization helpers shared by plugins (upstream's DefaultNormalizeScore)."""

from __future__ import annotations

from sampan.scheduler.framework.interface import MAX_NODE_SCORE


def default_normalize_score(scores: list[int], *, reverse: bool, max_priority: int = MAX_NODE_SCORE) -> None:
    """Scale in place so the largest score becomes ``max_priority`` (integer division, as upstream);
    ``reverse`` flips to ``max_priority - score``. All zeros stay zero (or become ``max_priority`` when
    reversed)."""
    top = max(scores, default=0)
    if top <= 0:
        if reverse:
            scores[:] = [max_priority] * len(scores)
        return
    if reverse:
        scores[:] = [max_priority - max_priority * s // top for s in scores]
    else:
        scores[:] = [max_priority * s // top for s in scores]
