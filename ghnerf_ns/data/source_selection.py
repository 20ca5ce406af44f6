"""Which source views condition a render: ENeRF's nearest-camera rule and its training-time randomisation.

All functions are pure numpy over camera-to-world matrices (OpenCV or OpenGL: only centres and rotation differences are
used, and both are convention-independent as long as all cameras share one convention).
"""

from typing import List, Optional, Sequence

import numpy as np

ALL_VIEWS = 0
"""``num_views`` value meaning every input camera of the frame (the target's own camera excluded)."""


def nearest_source_views(
    target_c2w: np.ndarray,
    pool_c2w: np.ndarray,
    num_views: int,
    exclude: Optional[int] = None,
    use_rotation: bool = True,
) -> List[int]:
    """ENeRF's source-view rule (``lib/datasets/zjumocap/enerf.py``, fixed in commit 5ba9ed2).

    Pool cameras are ranked by camera-centre distance to the target; with ``use_rotation`` only those that are also
    among the ``2 * num_views`` nearest by rotation distance (Frobenius norm of the rotation difference) are kept, and
    the first ``num_views`` are returned.

    Args:
        target_c2w: (3, 4) or (4, 4) camera-to-world of the target.
        pool_c2w: (P, 3, 4) or (P, 4, 4) camera-to-world of the candidate source cameras.
        num_views: how many source views to return; 0 (:data:`ALL_VIEWS`) = every pool camera but ``exclude``.
        exclude: position in the pool of the target itself (a training target never conditions on its own image).
        use_rotation: ENeRF filters by rotation for dataset cameras; its interactive viewer uses position only.

    Returns:
        Positions into the pool, nearest first. Fewer than ``num_views`` only if the pool is too small.
    """
    centre_dist = np.linalg.norm(pool_c2w[:, :3, 3] - target_c2w[None, :3, 3], axis=-1)
    order = np.argsort(centre_dist, kind="stable")
    if exclude is not None:
        order = order[order != exclude]
    if num_views <= 0:  # every input camera (ALL_VIEWS), nearest first
        return [int(i) for i in order]
    if not use_rotation:
        return [int(i) for i in order[:num_views]]
    rot_dist = np.linalg.norm(pool_c2w[:, :3, :3] - target_c2w[None, :3, :3], axis=(1, 2))
    rot_order = np.argsort(rot_dist, kind="stable")
    if exclude is not None:
        rot_order = rot_order[rot_order != exclude]
    # ENeRF parity: candidates are the 2N nearest by position, kept if also among the 2N nearest by rotation.
    rot_near = set(int(i) for i in rot_order[: 2 * num_views])
    chosen = [int(i) for i in order[: 2 * num_views] if int(i) in rot_near][:num_views]
    if len(chosen) < num_views:
        # ENeRF stops in a debugger here; we complete with the next nearest cameras by position instead.
        chosen += [int(i) for i in order if int(i) not in chosen][: num_views - len(chosen)]
    return chosen


def sample_num_views(rng: np.random.Generator, choices: Sequence[int], probs: Sequence[float]) -> int:
    """Draw the number of source views for one training batch (ENeRF's ``EnerfBatchSampler``: 2 w.p. 0.9, 3 w.p.
    0.1)."""
    p = np.asarray(probs, dtype=np.float64)
    if len(choices) != len(p) or len(choices) == 0 or np.any(p < 0) or p.sum() <= 0:
        raise ValueError(f"source-view choices {list(choices)} and probabilities {list(probs)} do not match")
    return int(rng.choice(np.asarray(choices), p=p / p.sum()))


def training_source_views(rng: np.random.Generator, candidates: Sequence[int], num_views: int) -> List[int]:
    """Pick ``num_views`` of a training target's candidates (its ``max(choices) + 1`` nearest input cameras).

    ENeRF parity: ENeRF appends the target itself with p=0.05 and then samples from ``candidates[:num_views + 1]``;
    since the candidate list already has ``max(choices) + 1 >= num_views + 1`` entries, the appended target is never in
    that slice, so the net behaviour (reproduced here) is a random ``num_views``-subset of the ``num_views + 1``
    nearest.
    """
    pool = list(candidates[: num_views + 1])
    if len(pool) < num_views:
        raise ValueError(f"only {len(pool)} source candidates for {num_views} source views")
    picked = rng.choice(len(pool), size=num_views, replace=False)
    return [pool[int(i)] for i in picked]
