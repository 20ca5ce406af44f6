"""How tall the person stands in the working images, and the working resolution that makes a capture match a run.

The 2D pose head is a convolutional network trained at one scale: it finds a body about as tall, in pixels, as the
training people were. A capture whose person fills less of the frame (cameras farther away, portrait images, a
different field of view) shows a smaller person at the run's resolution, and the head misses most joints there
(benchmarks/README.md, "A real person": at 128 px a real person 50 px tall, against 72 px in training, gets a third of
the joints found at 192 px). So a run records its training people's height (:data:`SCALE_FILENAME` in the run
folder) and ``ghnerf-apply`` picks the capture's working resolution from it (:func:`matched_resolution`).

The height of an image's person is the height of its foreground mask's bounding box, at the working resolution; a
set of images is summarised by the median over an evenly spaced sample of them (mask files are read, images are not).
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from dataparsers.human_common import HumanImageIndex

SCALE_FILENAME = "person_scale.json"
"""File in the run folder (beside config.yml) with the training people's :class:`PersonScale`."""

SAMPLE_IMAGES = 48
"""Masks read per measurement (evenly spaced over the images): the median is stable long before that."""


@dataclass
class PersonScale:
    """The median person height of a set of images at one working resolution."""

    resolution: int
    """Working resolution (long side) the height is measured at."""
    person_height_px: float
    """Median height of the foreground masks' bounding boxes, working-resolution pixels."""
    images: int
    """Masks measured (images without a mask file or with an empty mask are not counted)."""

    def write(self, path: Path) -> None:
        """Write as JSON (the run folder's :data:`SCALE_FILENAME`)."""
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", "utf8")

    @staticmethod
    def read(path: Path) -> Optional["PersonScale"]:
        """The scale in ``path``, or None when there is no such file."""
        if not path.is_file():
            return None
        doc = json.loads(path.read_text("utf8"))
        try:
            return PersonScale(int(doc["resolution"]), float(doc["person_height_px"]), int(doc["images"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}: not a person scale file ({err}); delete it to measure again") from None


def mask_box_height(mask: np.ndarray) -> Optional[int]:
    """Height in pixels of the bounding box of a mask's non-zero pixels (``(H, W)``; a ``(H, W, C)`` mask is read
    from its first channel), or None for an empty mask."""
    rows = np.flatnonzero((mask if mask.ndim == 2 else mask[..., 0]).any(axis=1))
    return int(rows[-1] - rows[0] + 1) if rows.size else None


def _mask_file_box_height(path: Path) -> Optional[int]:
    import cv2

    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return None if data is None else mask_box_height(data)


def measure_person_scale(
    index: HumanImageIndex, resolution: int, rows: Optional[Sequence[int]] = None
) -> Optional[PersonScale]:
    """The median person height of ``index``'s images (``rows``: a subset) at working ``resolution``, or None when
    none of the sampled images has a readable, non-empty mask."""
    from ghnerf_ns.data.image_loading import working_size

    candidates = [r for r in (range(len(index)) if rows is None else rows) if index.mask_filenames[r] is not None]
    if not candidates:
        return None
    picks = np.unique(np.linspace(0, len(candidates) - 1, min(SAMPLE_IMAGES, len(candidates))).round().astype(int))
    heights = []
    for pick in picks:
        row = candidates[int(pick)]
        native = _mask_file_box_height(index.mask_filenames[row])
        if native is None:
            continue
        width, height = int(index.width[row]), int(index.height[row])
        heights.append(native * working_size(width, height, resolution)[1] / height)
    if not heights:
        return None
    return PersonScale(resolution=resolution, person_height_px=float(np.median(heights)), images=len(heights))


def matched_resolution(trained: PersonScale, capture: PersonScale, largest: int) -> int:
    """The working resolution (multiple of 32, 64 to ``largest``) at which the capture's person is about as tall as
    the training people were: ``capture`` measured at any resolution, scaled linearly."""
    wanted = capture.resolution * trained.person_height_px / capture.person_height_px
    return int(min(max(64, 32 * round(wanted / 32)), max(64, largest)))
