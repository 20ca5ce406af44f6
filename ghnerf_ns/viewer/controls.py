"""Custom controls GHNeRF adds to nerfstudio's web viewer ("Custom Elements" panel).

A source-view model renders one person at one moment: the viewer needs to say which (subject, frame), how many
source views, and which joint's heatmap to show. nerfstudio finds these ``ViewerElement`` attributes by walking the
pipeline's modules in alphabetical attribute order (hence the letter prefixes) and re-renders after every change.
Renders read every value once through :meth:`GHNeRFViewerControls.snapshot` (values can change from another thread).

``ns-render`` has no way to pass plugin options, so the environment variables ``GHNERF_SUBJECT`` (a subject name such
as ``CoreView_386``, or a unique suffix such as ``386``) and ``GHNERF_FRAME`` (a frame number of that subject) set the
initial subject/frame of ``ns-render`` and ``ns-viewer`` alike.

The controls also carry :class:`~ghnerf_ns.viewer.camera.GHNeRFViewerCamera` (a ``ViewerControl``), which puts a
browser's camera on the chosen person when it connects and whenever Subject changes.
"""

import os
from dataclasses import dataclass
from functools import partial
from typing import FrozenSet, List, Optional, Sequence, Tuple

from nerfstudio.viewer.viewer_elements import ViewerCheckbox, ViewerDropdown, ViewerSlider, ViewerText
from torch import nn

from dataparsers.body25 import BODY25_JOINTS
from ghnerf_ns.data.source_bank import SourceViewBank
from ghnerf_ns.runtime.user_errors import GHNeRFConfigError
from ghnerf_ns.viewer.camera import GHNeRFViewerCamera, ViewerPose, input_camera_view

MAX_JOINT = "max over joints"
"""Joint-dropdown entry that shows the maximum over all 25 heatmaps."""
NO_SUBJECT = "(no subject)"
SUBJECT_ENV = "GHNERF_SUBJECT"
"""Environment variable: initial subject (name or unique name suffix)."""
FRAME_ENV = "GHNERF_FRAME"
"""Environment variable: initial frame number of that subject."""


def match_subject(wanted: str, subjects: Sequence[str]) -> str:
    """The subject named ``wanted``, or the only one whose name ends with it (``386`` -> ``CoreView_386``)."""
    if wanted in subjects:
        return wanted
    hits = [name for name in subjects if name.endswith(wanted)]
    if len(hits) != 1:
        why = "matches none" if not hits else f"is ambiguous ({', '.join(hits)})"
        raise GHNeRFConfigError(
            f"{SUBJECT_ENV}={wanted!r} {why} of the subjects with source views: {', '.join(subjects)}"
        )
    return hits[0]


def frame_position(frame: int, frames: Sequence[int], subject: str) -> int:
    """Position of frame number ``frame`` in ``subject``'s frame list (what the Frame slider holds)."""
    if frame not in frames:
        raise GHNeRFConfigError(f"{FRAME_ENV}={frame} is not a frame of {subject}: its frames are {list(frames)}")
    return list(frames).index(frame)


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
    shown_outputs: Optional[FrozenSet[str]] = None
    """The outputs the viewer displays now (its "Output type", and the split view's when split); None: not known
    (no viewer), so every output is made."""


class GHNeRFViewerControls(nn.Module):
    """Subject/frame, source views, joint, overlay opacity and keypoints controls."""

    def __init__(self, default_num_views: int = 2) -> None:
        super().__init__()
        self._frames: dict = {}
        self.a_subject = ViewerDropdown(
            "Subject", NO_SUBJECT, [NO_SUBJECT], cb_hook=self._on_subject, hint="Person to render (test subjects first)"
        )
        # Frame changes keep the user's camera (the person moves little between frames); Subject changes move it.
        self.b_frame = ViewerSlider("Frame", 0, 0, 1, step=1, hint="Frame of the subject (position in its frame list)")
        self.c_num_views = ViewerSlider(
            "Source views", default_num_views, 0, 8, step=1, hint="Input views of the render and its keypoints (0: all)"
        )
        self.d_joint = ViewerDropdown(
            "Heatmap joint", MAX_JOINT, [MAX_JOINT, *BODY25_JOINTS], hint="Joint shown by the 'heatmap' output"
        )
        self.e_opacity = ViewerSlider("Overlay opacity", 0.6, 0.0, 1.0, step=0.05, hint="heatmap_overlay blending")
        self.f_show_keypoints = ViewerCheckbox("Show keypoints", True, hint="Draw the skeleton in keypoints_overlay")
        self.g_sources = ViewerText("Source cameras", "", disabled=True, hint="Cameras conditioning the current render")
        self.h_camera = GHNeRFViewerCamera()

    def attach_bank(self, bank: SourceViewBank) -> None:
        """Offer the bank's subjects/frames and start viewer cameras at their input cameras."""
        subjects = bank.subjects
        self.set_subjects([s.name for s in subjects], [s.frames for s in subjects])
        self.h_camera.set_pose_source(partial(self._current_pose, bank))

    def _current_pose(self, bank: SourceViewBank) -> Optional[ViewerPose]:
        subject, frame = self.subject_frame()
        if subject == NO_SUBJECT:
            return None
        return input_camera_view(bank, subject, frame)

    def set_subjects(self, subjects: Sequence[str], frames: Sequence[Sequence[int]]) -> None:
        """Fill the subject dropdown (called once the dataset is known); GHNERF_SUBJECT/GHNERF_FRAME pick the start."""
        names: List[str] = list(subjects) or [NO_SUBJECT]
        self._frames = {name: list(f) for name, f in zip(subjects, frames)}
        self.a_subject.set_options(names)
        wanted, frame = os.environ.get(SUBJECT_ENV, "").strip(), os.environ.get(FRAME_ENV, "").strip()
        self.a_subject.value = match_subject(wanted, names) if wanted and subjects else names[0]
        self._on_subject(self.a_subject)
        if frame:
            try:
                number = int(frame)
            except ValueError:
                raise GHNeRFConfigError(f"{FRAME_ENV}={frame!r} is not a frame number") from None
            self.b_frame.value = frame_position(number, self.frames_of(self.a_subject.value), self.a_subject.value)

    def frames_of(self, subject: str) -> List[int]:
        """Frame numbers of ``subject`` (the Frame slider indexes this list)."""
        return self._frames.get(subject, [0])

    def subject_frame(self, settings: Optional[ViewerSettings] = None) -> Tuple[str, int]:
        """(subject, frame number) the controls (or a snapshot of them) point at."""
        settings = settings or self.snapshot()
        frames = self.frames_of(settings.subject)
        return settings.subject, frames[min(settings.frame_position, len(frames) - 1)]

    def _on_subject(self, element: ViewerDropdown) -> None:
        count = max(len(self.frames_of(element.value)), 1)
        self.b_frame.max = max(count - 1, 1)
        if self.b_frame.gui_handle is not None:
            self.b_frame.gui_handle.max = self.b_frame.max
        if int(self.b_frame.value) > count - 1:
            self.b_frame.value = 0
        self.h_camera.place_all()

    def snapshot(self) -> ViewerSettings:
        """One consistent read of every control."""
        joint = self.d_joint.value
        return ViewerSettings(
            subject=str(self.a_subject.value),
            frame_position=int(self.b_frame.value),
            num_views=int(self.c_num_views.value),
            joint=None if joint == MAX_JOINT else BODY25_JOINTS.index(joint),
            opacity=float(self.e_opacity.value),
            show_keypoints=bool(self.f_show_keypoints.value),
            shown_outputs=self.h_camera.shown_outputs(),
        )

    def show_sources(self, text: str) -> None:
        """Show which source cameras condition the current render.

        Only a changed text is sent: the viewer re-renders after every value assignment of a GUI element, so
        re-assigning it on each render would render forever.
        """
        if self.g_sources.value != text:
            self.g_sources.value = text
