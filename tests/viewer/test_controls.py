"""Viewer controls: GHNERF_SUBJECT / GHNERF_FRAME defaults, subject/frame slider wiring, settings snapshot."""

import pytest

from ghnerf_ns.runtime.user_errors import GHNeRFConfigError
from ghnerf_ns.viewer.controls import GHNeRFViewerControls, match_subject

SUBJECTS = ["CoreView_386", "CoreView_313", "CoreView_377"]
FRAMES = [[0, 2, 4], [0, 1], [5]]


def test_defaults_without_environment(monkeypatch):
    monkeypatch.delenv("GHNERF_SUBJECT", raising=False)
    monkeypatch.delenv("GHNERF_FRAME", raising=False)
    controls = GHNeRFViewerControls(default_num_views=3)
    controls.set_subjects(SUBJECTS, FRAMES)
    s = controls.snapshot()
    assert (s.subject, s.frame_position, s.num_views, s.joint, s.show_keypoints) == ("CoreView_386", 0, 3, None, True)
    assert controls.b_frame.max == 2


def test_environment_picks_subject_and_frame(monkeypatch):
    monkeypatch.setenv("GHNERF_SUBJECT", "313")
    monkeypatch.setenv("GHNERF_FRAME", "1")
    controls = GHNeRFViewerControls()
    controls.set_subjects(SUBJECTS, FRAMES)
    s = controls.snapshot()
    assert s.subject == "CoreView_313" and controls.frames_of(s.subject)[s.frame_position] == 1
    monkeypatch.setenv("GHNERF_SUBJECT", "CoreView_386")
    monkeypatch.setenv("GHNERF_FRAME", "4")
    controls.set_subjects(SUBJECTS, FRAMES)
    assert controls.snapshot().frame_position == 2


@pytest.mark.parametrize(
    "subject, frame, message",
    [("999", "", "matches none"), ("386", "3", "not a frame of CoreView_386"), ("386", "x", "not a frame number")],
)
def test_bad_environment_is_a_clear_error(monkeypatch, subject, frame, message):
    monkeypatch.setenv("GHNERF_SUBJECT", subject)
    monkeypatch.setenv("GHNERF_FRAME", frame)
    with pytest.raises(GHNeRFConfigError, match=message):
        GHNeRFViewerControls().set_subjects(SUBJECTS, FRAMES)


def test_changing_subject_clamps_frame(monkeypatch):
    monkeypatch.delenv("GHNERF_SUBJECT", raising=False)
    monkeypatch.delenv("GHNERF_FRAME", raising=False)
    controls = GHNeRFViewerControls()
    controls.set_subjects(SUBJECTS, FRAMES)
    controls.b_frame.value = 2
    controls.a_subject.value = "CoreView_377"
    controls._on_subject(controls.a_subject)  # what the dropdown's callback does in the viewer
    assert controls.snapshot().frame_position == 0
    assert match_subject("CoreView_377", SUBJECTS) == "CoreView_377"
    with pytest.raises(GHNeRFConfigError, match="ambiguous"):
        match_subject("13", ["CoreView_313", "CoreView_13"])
