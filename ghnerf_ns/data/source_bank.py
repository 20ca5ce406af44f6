"""SourceViewBank: finds and loads the source views for any camera, from the input cameras of every subject.

Test subjects are unseen people: their source views are their own *input* cameras, which are in no training split.
The bank therefore indexes the ``SOURCES_KEY`` index of both splits. It is light (arrays and paths); images are decoded
on demand behind a small LRU cache, never for the whole dataset.
"""

from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np
import torch

from dataparsers.human_common import HumanImageIndex
from ghnerf_ns.data.image_loading import LoadedView, load_view, stack_views
from ghnerf_ns.data.source_selection import nearest_source_views
from ghnerf_ns.model.views import SourceViews


@dataclass(frozen=True)
class SubjectFrames:
    """A subject the bank can render, with its frames (for the viewer's controls)."""

    name: str
    split: str
    frames: Tuple[int, ...]


def c2w_from_w2c(w2c: np.ndarray) -> np.ndarray:
    """(..., 3|4, 4) world-to-camera -> (..., 4, 4) camera-to-world (same axis convention)."""
    full = np.zeros(w2c.shape[:-2] + (4, 4), dtype=np.float64)
    full[..., :3, :] = w2c[..., :3, :]
    full[..., 3, 3] = 1.0
    return np.linalg.inv(full)


class SourceViewBank:
    """Source-view lookup over the input cameras of all subjects of both splits.

    Args:
        pools: ``{split name: HumanImageIndex}`` of input-camera images (``DataparserOutputs.metadata[SOURCES_KEY]``).
        resolution: working long side the source images are decoded at.
        cache_size: decoded views kept in memory.
    """

    def __init__(self, pools: Dict[str, HumanImageIndex], resolution: int, cache_size: int = 32) -> None:
        self.resolution = resolution
        self.cache_size = cache_size
        self._cache: "OrderedDict[Tuple[int, int], LoadedView]" = OrderedDict()
        self._indices: List[HumanImageIndex] = []
        self._groups: Dict[Tuple[str, int], List[Tuple[int, int]]] = {}
        self._subjects: Dict[str, SubjectFrames] = {}
        seen: Set[Tuple[str, int, int]] = set()
        for split, index in pools.items():
            idx_id = len(self._indices)
            self._indices.append(index)
            names = [index.subjects[s] for s in index.subject_idx]
            for row, (name, frame, camera) in enumerate(zip(names, index.frame.tolist(), index.camera.tolist())):
                # A subject in both splits (an overfitting check, a run applied to its own capture) lists its input
                # cameras twice: keep one entry per camera, so a target can never be its own source through the twin.
                if (name, frame, camera) not in seen:
                    seen.add((name, frame, camera))
                    self._groups.setdefault((name, int(frame)), []).append((idx_id, row))
            for name in sorted(set(names)):
                frames = tuple(sorted({f for (n, f) in self._groups if n == name}))
                if name not in self._subjects:
                    self._subjects[name] = SubjectFrames(name=name, split=split, frames=frames)

    @property
    def subjects(self) -> List[SubjectFrames]:
        """Every subject with source views, test subjects first (those are the interesting ones to look at)."""
        return sorted(self._subjects.values(), key=lambda s: (s.split == "train", s.name))

    def pool(self, subject: str, frame: int) -> List[Tuple[int, int]]:
        """(index id, row) of every input camera of ``subject`` at ``frame``."""
        group = self._groups.get((subject, int(frame)))
        if not group:
            known = ", ".join(s.name for s in self.subjects) or "none"
            raise KeyError(
                f"no input cameras for subject {subject!r} frame {frame} (subjects with source views: {known})"
            )
        return group

    def _pool_c2w(self, group: Sequence[Tuple[int, int]]) -> np.ndarray:
        return c2w_from_w2c(np.stack([self._indices[i].w2c[r] for i, r in group]))

    def select(
        self,
        subject: str,
        frame: int,
        target_w2c: np.ndarray,
        num_views: int,
        use_rotation: bool = True,
        exclude_camera: Optional[int] = None,
    ) -> List[Tuple[int, int]]:
        """The ``num_views`` input cameras of (subject, frame) nearest to a target camera (OpenCV world-to-camera).

        ``use_rotation`` follows ENeRF's dataset rule (eval); the viewer uses position only, as ENeRF's interactive
        renderer does. ``exclude_camera`` removes the target's own camera when it is an input camera.
        """
        group = self.pool(subject, frame)
        exclude = None
        if exclude_camera is not None:
            cams = [int(self._indices[i].camera[r]) for i, r in group]
            exclude = cams.index(exclude_camera) if exclude_camera in cams else None
        chosen = nearest_source_views(
            c2w_from_w2c(target_w2c), self._pool_c2w(group), num_views, exclude=exclude, use_rotation=use_rotation
        )
        return [group[i] for i in chosen]

    def centers(self, entries: Sequence[Tuple[int, int]]) -> np.ndarray:
        """(len(entries), 3) world positions of the entries' cameras (from the index: nothing is decoded)."""
        return self._pool_c2w(entries)[:, :3, 3]

    def index_of(self, entry: Tuple[int, int]) -> Tuple[HumanImageIndex, int]:
        """(the index holding ``entry``, its row there): the entry's image, mask, camera and keypoint files."""
        idx_id, row = entry
        return self._indices[idx_id], row

    def camera_of(self, entry: Tuple[int, int]) -> int:
        idx_id, row = entry
        return int(self._indices[idx_id].camera[row])

    def load(self, entries: Sequence[Tuple[int, int]]) -> SourceViews:
        """Decode the given views (cached) into a :class:`SourceViews` on the CPU.

        Views of different working sizes (a rig with several camera models, portrait next to landscape) are padded to
        one canvas (:func:`~ghnerf_ns.data.image_loading.stack_views`); a single view keeps its own size.
        """
        views = [self._load_one(e) for e in entries]
        first = self._indices[entries[0][0]]
        row0 = entries[0][1]
        images, K, w2c = stack_views(views)
        return SourceViews(
            images=images,
            K=K,
            w2c=w2c,
            camera_ids=torch.tensor([self.camera_of(e) for e in entries], dtype=torch.long),
            subject=self.subject_id(first.subjects[int(first.subject_idx[row0])]),
            frame=int(first.frame[row0]),
        )

    def subject_id(self, name: str) -> int:
        """A stable integer for a subject name (position in :attr:`subjects`)."""
        return [s.name for s in self.subjects].index(name)

    def box(self, subject: str, frame: int) -> np.ndarray:
        """(2, 3) 3D box of the human at (subject, frame)."""
        idx_id, row = self.pool(subject, frame)[0]
        return self._indices[idx_id].box(row)

    def _load_one(self, entry: Tuple[int, int]) -> LoadedView:
        if entry in self._cache:
            self._cache.move_to_end(entry)
            return self._cache[entry]
        view = load_view(self._indices[entry[0]], entry[1], self.resolution)
        self._cache[entry] = view
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return view
