"""Reciprocal-rank fusion: a pure function, so it is tested without any index or model."""

from __future__ import annotations

from collections.abc import Hashable, Sequence


def rrf(rankings: dict[str, Sequence[Hashable]], k: int = 60,
        weights: dict[str, float] | None = None) -> list[tuple[Hashable, float, dict[str, int]]]:
    """Fuse ranked id lists: score(id) = Σ weight / (k + rank), rank starting at 1.

    Returns ``(id, score, {ranker: rank})`` best first; ties keep the order of first appearance.
    """
    scores: dict[Hashable, float] = {}
    ranks: dict[Hashable, dict[str, int]] = {}
    for name, ids in rankings.items():
        w = 1.0 if weights is None else weights.get(name, 1.0)
        for rank, item in enumerate(ids, 1):
            if name in ranks.setdefault(item, {}):
                continue  # a duplicate in one list counts once, at its best rank
            ranks[item][name] = rank
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
    order = sorted(scores, key=lambda i: -scores[i])
    return [(i, scores[i], ranks[i]) for i in order]
