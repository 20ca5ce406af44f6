"""Where the human encoder needs to look: one window per source view around the projected 3D box of the person.

GHNeRF only samples human features at points inside the person's 3D box (rays are cast inside the box and sampled
between its near and far planes), and those points project inside the bounding rectangle of the box's projected
corners (a box is convex, and every corner is in front of the camera). So the encoder can run on that rectangle of
each source view instead of the whole image: for ZJU-MoCap at 512 px the rectangle is about a third of the image, and
the DINO ViT's attention cost falls with the square of its token count (measured in ``benchmarks/render_speed.py``).

Windows keep the encoder's grid: they start on multiples of its ``pad_multiple`` (so a window's feature cells are the
full image's cells), have one common size per batch (the views go through the backbone together), and carry a margin
of two feature cells so bilinear lookups near the box's edge stay inside the window.
"""

from dataclasses import dataclass
from typing import List, Optional, Tuple, Union

from jaxtyping import Float
from torch import Tensor

from ghnerf_ns.model.geometry import box_corners, project

MAX_AREA_FRACTION = 0.8
"""Windows covering more of the padded image than this are not worth cropping: the whole image is encoded."""


@dataclass(frozen=True)
class EncoderWindows:
    """One window per view, all of the same size, in pixels of the encoder's padded input."""

    origins: Tuple[Tuple[int, int], ...]
    """(top, left) of each view's window, multiples of the encoder's ``pad_multiple``."""
    size: Tuple[int, int]
    """(height, width) of every window, multiples of ``pad_multiple``."""
    padded_hw: Tuple[int, int]
    """(height, width) of the padded full image the windows live in."""


def _aligned_span(low: float, high: float, multiple: int, limit: int) -> Tuple[int, int]:
    """[start, end) covering [low, high], start rounded down to ``multiple`` and both clipped to [0, limit]."""
    start = max(int(low) // multiple * multiple, 0)
    return start, min(max(int(high) + 1, start), limit)


def box_windows(
    K: Float[Tensor, "num_views 3 3"],
    w2c: Float[Tensor, "num_views 4 4"],
    box: Union[Float[Tensor, "2 3"], Float[Tensor, "num_views 2 3"]],
    image_hw: Tuple[int, int],
    multiple: int,
    margin: int,
) -> Optional[EncoderWindows]:
    """Windows around the projection of ``box`` in each view (OpenCV ``K``/``w2c`` at the image resolution).

    ``box`` is the person's 3D box, one for every view or one per view (views of different people or frames).

    Args:
        image_hw: (H, W) of the source images; windows live in the image padded up to ``multiple``.
        multiple: the encoder's ``pad_multiple`` (window origin and size granularity).
        margin: pixels added around the projected rectangle before aligning.

    Returns:
        The windows, or None when cropping would not help (a corner behind a camera, or windows that cover nearly all
        of the image): then the whole image is encoded.
    """
    height, width = image_hw
    padded = (-(-height // multiple) * multiple, -(-width // multiple) * multiple)
    boxes = box.to(w2c.dtype).expand(w2c.shape[0], 2, 3) if box.ndim == 2 else box.to(w2c.dtype)
    spans: List[Tuple[Tuple[int, int], Tuple[int, int]]] = []
    for view_K, view_w2c, view_box in zip(K.to(w2c.dtype), w2c, boxes):
        uv, z = project(box_corners(view_box), view_K, view_w2c)
        if bool((z <= 1e-3).any()):
            return None
        uv = uv.detach().cpu()
        (u0, v0), (u1, v1) = uv.amin(dim=0).tolist(), uv.amax(dim=0).tolist()
        rows = _aligned_span(v0 - margin, v1 + margin, multiple, padded[0])
        cols = _aligned_span(u0 - margin, u1 + margin, multiple, padded[1])
        spans.append((rows, cols))
    size = tuple(
        min(-(-max(span[axis][1] - span[axis][0] for span in spans) // multiple) * multiple, padded[axis])
        for axis in range(2)
    )
    if size[0] * size[1] > MAX_AREA_FRACTION * padded[0] * padded[1] or min(size) <= 0:
        return None
    # A window that would run past the padded image slides back inside (it still covers its span: size >= span).
    origins = tuple(
        (min(rows[0], padded[0] - size[0]), min(cols[0], padded[1] - size[1])) for rows, cols in spans
    )
    return EncoderWindows(origins=origins, size=(int(size[0]), int(size[1])), padded_hw=padded)
