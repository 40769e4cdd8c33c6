"""Match sets of the evaluator: in one segment, either Sparse (ascending document
numbers and their scores) or Dense (a boolean mask over the segment and scores, zero
where the mask is False), and the few operations ``engine`` combines them with."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .segment import _EMPTY_IDS

_EMPTY_SCORES = np.zeros(0, dtype=np.float64)


@dataclass
class Sparse:
    ids: np.ndarray
    scores: np.ndarray


@dataclass
class Dense:
    mask: np.ndarray
    scores: np.ndarray


_NONE = Sparse(_EMPTY_IDS, _EMPTY_SCORES)


def _size(m) -> int:
    return len(m.ids) if isinstance(m, Sparse) else int(np.count_nonzero(m.mask))


def _dense(m, n: int) -> Dense:
    if isinstance(m, Dense):
        return m
    mask = np.zeros(n, dtype=bool)
    mask[m.ids] = True
    scores = np.zeros(n, dtype=np.float64)
    scores[m.ids] = m.scores
    return Dense(mask, scores)


def _lookup(m, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each id: is it in ``m``, and its score there (0 when not)."""
    if isinstance(m, Dense):
        return m.mask[ids], m.scores[ids]
    if not len(m.ids):
        return np.zeros(len(ids), dtype=bool), np.zeros(len(ids))
    idx = np.searchsorted(m.ids, ids)
    idx[idx >= len(m.ids)] = len(m.ids) - 1
    present = m.ids[idx] == ids
    return present, np.where(present, m.scores[idx], 0.0)


def _scale(m, boost: float):
    if boost == 1.0:
        return m
    if isinstance(m, Sparse):
        return Sparse(m.ids, m.scores * boost)
    return Dense(m.mask, m.scores * boost)
