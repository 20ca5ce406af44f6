"""Skip and report: missing images (parse time), unreadable JPEGs and person-less OpenPose files (training time) are
counted, logged the first few times, summarised at start and written to ``<run dir>/data_report.json``."""

import json
from pathlib import Path

import numpy as np
from nerfstudio.engine.callbacks import TrainingCallbackAttributes
from nerfstudio.utils.rich_utils import CONSOLE

from dataparsers.index_utils import warn_skipped
from dataparsers.openpose_json import write_openpose_json
from ghnerf_ns.data.person_scale import SCALE_FILENAME, PersonScale
from ghnerf_ns.data.skip_report import (
    MAX_EXAMPLES,
    OPENPOSE_NO_PERSON,
    REPORT_FILENAME,
    TOO_FEW_SOURCES,
    UNREADABLE_IMAGE,
    SkipReport,
    capture_console_lines,
)
from tests.reliability.helpers import tiny_method_config


def test_parse_warning_format_of_the_dataparsers_is_understood():
    with capture_console_lines(CONSOLE) as lines:
        warn_skipped("CoreView_9", "image file missing", [f"CoreView_9/c/{i}.jpg" for i in range(7)], 40)
        warn_skipped("CoreView_8", "image file missing", ["CoreView_8/c/0.jpg"], 40)
        warn_skipped("CoreView_8", "mask missing", ["CoreView_8/c/1.jpg", "CoreView_8/c/2.jpg"], 40)
    report = SkipReport()
    report.add_parse_warnings(lines)
    missing = report.parse_time["image file missing"]
    assert (missing.files, missing.examples) == (
        8,
        ["CoreView_9/c/0.jpg", "CoreView_9/c/1.jpg", "CoreView_9/c/2.jpg", "CoreView_8/c/0.jpg"],
    )
    assert report.parse_time["mask missing"].files == 2
    assert len(report.parse_warnings) == 3


def test_training_issues_count_distinct_files_and_log_only_the_first_few():
    report = SkipReport()
    logged = report.merge_sample_issues({UNREADABLE_IMAGE: ["a.jpg", "a.jpg"]})
    assert logged == [f"{UNREADABLE_IMAGE}: a.jpg"]
    for i in range(10):
        report.merge_sample_issues({UNREADABLE_IMAGE: [f"{i}.jpg"]})
    entry = report.training_time[UNREADABLE_IMAGE]
    assert (entry.files, entry.occurrences, len(entry.examples)) == (11, 12, MAX_EXAMPLES)
    assert report.merge_sample_issues({UNREADABLE_IMAGE: ["99.jpg"]}) == []  # past the first few: counted, not logged


def test_datamanager_reports_missing_truncated_and_person_less_files(damaged_copy, tmp_path: Path, capsys):
    root = damaged_copy()
    subject = root / "CoreView_377"
    (subject / "Camera_B3" / "000001.jpg").unlink()  # parse time: missing image
    broken = subject / "Camera_B1" / "000001.jpg"
    broken.write_bytes(broken.read_bytes()[:300])  # training time: truncated JPEG (header intact, no pixels)
    write_openpose_json(subject / "openpose" / "Camera_B5" / "000000_keypoints.json", np.zeros((25, 3)))
    config = tiny_method_config(root, num_workers=1)  # a worker process: counts must come back to the main process
    dm = config.pipeline.datamanager.setup(device="cpu", test_mode="val")
    start = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "GHNeRF training data: 11 target images" in start and "skipped 1 images: 1 (image file missing)" in start

    class FakeTrainer:
        base_dir = tmp_path / "run"

    callbacks = dm.get_training_callbacks(TrainingCallbackAttributes(None, None, None, FakeTrainer()))
    assert callbacks and (tmp_path / "run" / REPORT_FILENAME).is_file()
    # The training people's height for ghnerf-apply (ghnerf_ns/data/person_scale.py), from the training masks.
    scale = PersonScale.read(tmp_path / "run" / SCALE_FILENAME)
    assert scale.resolution == config.pipeline.datamanager.resolution and scale.images == 11
    assert 0.2 * scale.resolution < scale.person_height_px < scale.resolution
    rows = set()
    for step in range(40):
        _, batch = dm.next_train(step)
        rows.add(batch.row)
    del dm  # stops the worker
    report = json.loads((tmp_path / "run" / REPORT_FILENAME).read_text())
    assert report["images_used"] == {"train": 11, "eval": 6}
    assert report["parse_time"]["image file missing"]["examples"] == ["CoreView_377/Camera_B3/000001.jpg"]
    training = report["training_time"]
    assert training[UNREADABLE_IMAGE]["files"] == 1 and str(broken) in training[UNREADABLE_IMAGE]["examples"][0]
    # Frame 1 of 377 lost camera B3, so B5 (frame 1) has one other input camera left: replaced, reported.
    assert training[TOO_FEW_SOURCES]["files"] == 1
    assert training[OPENPOSE_NO_PERSON]["examples"] == [
        str(subject / "openpose" / "Camera_B5" / "000000_keypoints.json")
    ]
    log = " ".join(capsys.readouterr().out.split())
    assert f"Warning: {UNREADABLE_IMAGE}:" in log and "(counted in data_report.json)" in log
    assert len(rows) > 3
