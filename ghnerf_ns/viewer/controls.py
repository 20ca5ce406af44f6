"""Custom controls GHNeRF adds to nerfstudio's web viewer ("Custom Elements" panel).

A source-view model renders one person at one moment: the viewer needs to say which (subject, frame), how many
source views, and which joint's heatmap to show. nerfstudio finds these ``ViewerElement`` attributes by walking the
pipeline's modules in alphabetical attribute order (hence the letter prefixes) and re-renders after every change.
Renders read every value once through :meth:`GHNeRFViewerControls.snapshot` (values can change from another thread).
"""

from dataclasses import dataclass
from typing import List, Optional, Sequence

from nerfstudio.viewer.viewer_elements import ViewerCheckbox, ViewerDropdown, ViewerSlider, ViewerText
from torch import nn

from dataparsers.body25 import BODY25_JOINTS

MAX_JOINT = "max over joints"
"""Joint-dropdown entry that shows the maximum over all 25 heatmaps."""
NO_SUBJECT = "(no subject)"


@dataclass(frozen=True)
class ViewerSettings:
    """One consistent read of the controls."""

    subject: str
    frame_position: int
    num_views: int
    joint: Optional[int]
    """BODY_25 index, or None for the maximum over joints."""
    opacity: float
    show_keypoints: bool


class GHNeRFViewerControls(nn.Module):
    """Subject/frame, source views, joint, overlay opacity and keypoints controls."""

    def __init__(self, default_num_views: int = 2) -> None:
        super().__init__()
        self._frames: dict = {}
        self.a_subject = ViewerDropdown(
            "Subject", NO_SUBJECT, [NO_SUBJECT], cb_hook=self._on_subject, hint="Person to render (test subjects first)"
        )
        self.b_frame = ViewerSlider("Frame", 0, 0, 1, step=1, hint="Frame of the subject (position in its frame list)")
        self.c_num_views = ViewerSlider("Source views", default_num_views, 2, 4, step=1, hint="Input views used")
        self.d_joint = ViewerDropdown(
            "Heatmap joint", MAX_JOINT, [MAX_JOINT, *BODY25_JOINTS], hint="Joint shown by the 'heatmap' output"
        )
        self.e_opacity = ViewerSlider("Overlay opacity", 0.6, 0.0, 1.0, step=0.05, hint="heatmap_overlay blending")
        self.f_show_keypoints = ViewerCheckbox("Show keypoints", True, hint="Draw the skeleton in keypoints_overlay")
        self.g_sources = ViewerText("Source cameras", "", disabled=True, hint="Cameras conditioning the current render")

    def set_subjects(self, subjects: Sequence[str], frames: Sequence[Sequence[int]]) -> None:
        """Fill the subject dropdown (called once the dataset is known)."""
        names: List[str] = list(subjects) or [NO_SUBJECT]
        self._frames = {name: list(f) for name, f in zip(subjects, frames)}
        self.a_subject.set_options(names)
        self.a_subject.value = names[0]
        self._on_subject(self.a_subject)

    def frames_of(self, subject: str) -> List[int]:
        return self._frames.get(subject, [0])

    def _on_subject(self, element: ViewerDropdown) -> None:
        count = max(len(self.frames_of(element.value)), 1)
        self.b_frame.max = max(count - 1, 1)
        if self.b_frame.gui_handle is not None:
            self.b_frame.gui_handle.max = self.b_frame.max
        if int(self.b_frame.value) > count - 1:
            self.b_frame.value = 0

    def snapshot(self) -> ViewerSettings:
        joint = self.d_joint.value
        return ViewerSettings(
            subject=str(self.a_subject.value),
            frame_position=int(self.b_frame.value),
            num_views=int(self.c_num_views.value),
            joint=None if joint == MAX_JOINT else BODY25_JOINTS.index(joint),
            opacity=float(self.e_opacity.value),
            show_keypoints=bool(self.f_show_keypoints.value),
        )

    def show_sources(self, text: str) -> None:
        self.g_sources.value = text
