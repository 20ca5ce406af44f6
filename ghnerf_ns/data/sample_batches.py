"""TrainingBatch: the typed batch a training (or eval-loss) step consumes, built in the DataLoader workers."""

from dataclasses import dataclass, replace
from typing import Dict, Optional

from jaxtyping import Bool, Float
from torch import Tensor

from ghnerf_ns.model.geometry import box_near_far
from ghnerf_ns.model.views import SourceViews, TargetView
from ghnerf_ns.model.volume_heat import FrameKeypointViews


@dataclass
class TrainingBatch:
    """Rays of one target image with their ground truth, and the source views that condition them."""

    row: int
    """Row of the target in its split's index."""
    target: TargetView
    sources: SourceViews
    pixels: Float[Tensor, "num_rays 2"]
    """(u, v) OpenCV pixel coordinates of each ray at the target's working resolution."""
    rgb: Float[Tensor, "num_rays 3"]
    mask: Float[Tensor, "num_rays 1"]
    heatmaps: Float[Tensor, "num_rays 25"]
    joints_valid: Bool[Tensor, " 25"]
    cse: Optional[Float[Tensor, "num_rays cse_dim"]] = None
    """CSE targets (NaN where the teacher gave none), when the dataset has them."""
    source_keypoints: Optional[Float[Tensor, "num_views 25 3"]] = None
    """(x, y, confidence) 2D keypoints of each source view at its working resolution (confidence 0: missing)."""
    pose_views: Optional[SourceViews] = None
    """Input-camera images of random training subjects and frames for 2D pose supervision only (the human encoder's
    heatmap head); ``subject`` and ``frame`` are the target's, not theirs. None when none are loaded."""
    pose_keypoints: Optional[Float[Tensor, "num_pose_views 25 3"]] = None
    """2D keypoints of ``pose_views``, like ``source_keypoints``."""
    pose_boxes: Optional[Float[Tensor, "num_pose_views 2 3"]] = None
    """The person's 3D box in each pose view's own frame (where the human encoder looks)."""
    volume_points: Optional[Float[Tensor, "num_points 3"]] = None
    """Random points of the target's box for the volumetric heat loss (see model/volume_heat.py)."""
    frame_views: Optional[FrameKeypointViews] = None
    """2D keypoints and cameras of every input camera of the target's frame (the volumetric heat targets)."""
    has_mask: bool = True
    """Whether ``mask`` comes from a mask file (False: the dataset has none for this image and ``mask`` is all ones)."""
    num_patches: int = 0
    """The last ``num_patches * patch_size**2`` rays form square patches (row-major) for the perceptual loss."""
    patch_size: int = 0

    def to(self, device) -> "TrainingBatch":
        return replace(
            self,
            target=self.target.to(device),
            sources=self.sources.to(device),
            pixels=self.pixels.to(device),
            rgb=self.rgb.to(device),
            mask=self.mask.to(device),
            heatmaps=self.heatmaps.to(device),
            joints_valid=self.joints_valid.to(device),
            cse=None if self.cse is None else self.cse.to(device),
            source_keypoints=None if self.source_keypoints is None else self.source_keypoints.to(device),
            pose_views=None if self.pose_views is None else self.pose_views.to(device),
            pose_keypoints=None if self.pose_keypoints is None else self.pose_keypoints.to(device),
            pose_boxes=None if self.pose_boxes is None else self.pose_boxes.to(device),
            volume_points=None if self.volume_points is None else self.volume_points.to(device),
            frame_views=None if self.frame_views is None else self.frame_views.to(device),
        )

    def patches(self, values: Float[Tensor, "num_rays C"]) -> Optional[Float[Tensor, "num_patches C S S"]]:
        """The patch rays of ``values`` reshaped to images, or None when the batch has no patches."""
        if self.num_patches == 0:
            return None
        s = self.patch_size
        tail = values[-self.num_patches * s * s :]
        return tail.reshape(self.num_patches, s, s, -1).permute(0, 3, 1, 2)


def collate_training_batch(sample: Dict) -> TrainingBatch:
    """Turn one :class:`~ghnerf_ns.data.training_samples.TrainingSampleDataset` item into a :class:`TrainingBatch`."""
    h, w = sample["target_hw"]
    box = sample["box"].float()
    target = TargetView(
        K=sample["target_K"],
        w2c=sample["target_w2c"],
        height=int(h),
        width=int(w),
        box=box,
        near_far=box_near_far(box, sample["target_w2c"]),
    )
    sources = SourceViews(
        images=sample["source_images"],
        K=sample["source_K"],
        w2c=sample["source_w2c"],
        camera_ids=sample["source_cameras"],
        subject=0,
        frame=int(sample["frame"]),
    )
    pose_views = None
    if len(sample.get("pose_cameras", ())):
        pose_views = SourceViews(
            images=sample["pose_images"],
            K=sample["pose_K"],
            w2c=sample["pose_w2c"],
            camera_ids=sample["pose_cameras"],
            subject=0,
            frame=int(sample["frame"]),
        )
    return TrainingBatch(
        row=int(sample["row"]),
        target=target,
        sources=sources,
        pixels=sample["pixels"],
        rgb=sample["rgb"],
        mask=sample["mask"],
        heatmaps=sample["heatmaps"],
        joints_valid=sample["joints_valid"],
        cse=sample.get("cse"),
        source_keypoints=sample.get("source_keypoints"),
        pose_views=pose_views,
        pose_keypoints=sample["pose_keypoints"] if pose_views is not None else None,
        pose_boxes=sample["pose_boxes"].float() if pose_views is not None else None,
        volume_points=sample.get("volume_points"),
        frame_views=(
            FrameKeypointViews(sample["frame_keypoints"], sample["frame_K"], sample["frame_w2c"], sample["frame_hw"])
            if "volume_points" in sample
            else None
        ),
        has_mask=bool(sample.get("has_mask", True)),
        num_patches=int(sample["num_patches"]),
        patch_size=int(sample["patch_size"]),
    )

