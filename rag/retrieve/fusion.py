"""Fusing the keyword and dense rankings: pure functions, tested without any index or model."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence

Unscored = Mapping[str, Collection[Hashable]]


def _rescale(scores: dict[Hashable, float], weights: Mapping[str, float], unscored: Unscored | None) -> None:
    """An id that a ranker *could not* score (a chunk not embedded yet has no dense score) is
    judged by the rankers that could: its score is scaled by Σ all weights / Σ weights of the
    rankers that could score it. Without this a keyword-only chunk would lose the dense share to
    every embedded one, however well it matched."""
    if not unscored:
        return
    total = sum(weights.values())
    for item in scores:
        could = total - sum(w for name, w in weights.items() if item in unscored.get(name, ()))
        if 0 < could < total:
            scores[item] *= total / could


def rrf(rankings: dict[str, Sequence[Hashable]], k: int = 60,
        weights: dict[str, float] | None = None, unscored: Unscored | None = None) -> list[tuple[Hashable, float, dict[str, int]]]:
    """Fuse ranked id lists: score(id) = Σ weight / (k + rank), rank starting at 1.

    ``unscored``: per ranker, ids it could not rank at all (see :func:`_rescale`).
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
    _rescale(scores, {name: 1.0 if weights is None else weights.get(name, 1.0) for name in rankings}, unscored)
    order = sorted(scores, key=lambda i: -scores[i])
    return [(i, scores[i], ranks[i]) for i in order]


def score_fusion(runs: dict[str, Sequence[tuple[Hashable, float]]], weights: dict[str, float],
                 unscored: Unscored | None = None) -> list[tuple[Hashable, float, dict[str, int]]]:
    """Fuse scored candidate lists: score(id) = Σ weight · min-max-normalised score (0 where absent).

    Why not only RRF: rank fusion throws away how *far* ahead the best keyword hit is. On NCP the
    bigram BM25 is much stronger than e5-small, and RRF let weak dense ranks pull its sure hits
    down; normalised scores keep that margin (NCP dev doc@5 0.966 vs 0.940 for RRF over the same
    candidates, eval/bench_retrieval.py).
    Each list is normalised over its own candidates; a list whose scores are all equal gives 1.0.
    ``unscored``: per ranker, ids it could not score at all (see :func:`_rescale`).
    Returns ``(id, score, {ranker: rank})`` best first; ties keep the order of first appearance.
    """
    scores: dict[Hashable, float] = {}
    ranks: dict[Hashable, dict[str, int]] = {}
    for name, run in runs.items():
        if not run:
            continue
        values = [s for _, s in run]
        lo, hi = min(values), max(values)
        w = weights.get(name, 0.0)
        for rank, (item, s) in enumerate(run, 1):
            if name in ranks.setdefault(item, {}):
                continue
            ranks[item][name] = rank
            scores[item] = scores.get(item, 0.0) + w * ((s - lo) / (hi - lo) if hi > lo else 1.0)
    _rescale(scores, {name: weights.get(name, 0.0) for name in runs}, unscored)
    order = sorted(scores, key=lambda i: -scores[i])
    return [(i, scores[i], ranks[i]) for i in order]
