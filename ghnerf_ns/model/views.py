"""Typed containers for the images a GHNeRF render is conditioned on (source views) and the camera it renders (target).

Everything is in OpenCV conventions (``K`` at the tensor resolution, world-to-camera ``w2c`` in metres), which is
what the cost volume and projection maths use; conversion from nerfstudio ``Cameras`` lives in
:mod:`ghnerf_ns.model.geometry`.
"""

from dataclasses import dataclass, replace
from typing import Tuple, Union

import torch
from jaxtyping import Float, Int
from torch import Tensor


@dataclass
class SourceViews:
    """The N source images a render is conditioned on (one subject, one frame)."""

    images: Float[Tensor, "num_views 3 H W"]
    """RGB in [0, 1], undistorted, background black, at the working resolution."""
    K: Float[Tensor, "num_views 3 3"]
    """OpenCV intrinsics at the working resolution."""
    w2c: Float[Tensor, "num_views 4 4"]
    """OpenCV world-to-camera transforms, metres."""
    camera_ids: Int[Tensor, " num_views"]
    """Camera index of each view inside the subject's rig (for display and cache keys)."""
    subject: int = 0
    """Subject index (into the dataset's subject list)."""
    frame: int = 0
    """Frame number."""

    @property
    def num_views(self) -> int:
        return int(self.images.shape[0])

    @property
    def hw(self) -> Tuple[int, int]:
        return int(self.images.shape[-2]), int(self.images.shape[-1])

    def to(self, device: Union[str, torch.device]) -> "SourceViews":
        return replace(
            self,
            images=self.images.to(device),
            K=self.K.to(device),
            w2c=self.w2c.to(device),
            camera_ids=self.camera_ids.to(device),
        )

    def cache_key(self) -> Tuple:
        """Identifies the encoded features of these views: (subject, frame, camera ids, resolution)."""
        return (self.subject, self.frame, tuple(int(c) for c in self.camera_ids.tolist()), self.hw)


@dataclass
class TargetView:
    """The camera being rendered, plus the human's 3D box that bounds the cost volume."""

    K: Float[Tensor, "3 3"]
    """OpenCV intrinsics at (height, width)."""
    w2c: Float[Tensor, "4 4"]
    """OpenCV world-to-camera, metres."""
    height: int
    width: int
    box: Float[Tensor, "2 3"]
    """Axis-aligned 3D box of the human (min, max), world frame, metres."""
    near_far: Float[Tensor, "2"]
    """Camera-z range of the box corners in this camera (near clamped to a small positive value)."""

    def to(self, device: Union[str, torch.device]) -> "TargetView":
        return replace(
            self, K=self.K.to(device), w2c=self.w2c.to(device), box=self.box.to(device),
            near_far=self.near_far.to(device),
        )  # fmt: skip
