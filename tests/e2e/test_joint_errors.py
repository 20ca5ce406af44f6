"""benchmarks/joint_errors.py on the tiny e2e run: the per-joint table of the volumetric and triangulated estimates,
with the checkpoint and eval frames chosen on the command line, and a clear error for a missing config."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from dataparsers.body25 import BODY25_JOINTS
from tests.e2e.conftest import TEST_SUBJECTS

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "joint_errors.py"


def _run(args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


def test_joint_errors_table_for_a_chosen_step_and_frame(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "table.md"
    proc = _run([str(tiny_run), "--step", "3", "--eval-frames", "1", "2", "1", "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert text.strip() in proc.stdout  # printed and written alike
    head = text.splitlines()[0]
    assert f"step 3: 1 frames of CoreView_{TEST_SUBJECTS[0]}" in head
    assert re.search(r"PSNR \d+\.\d\d, SSIM \d\.\d{3}, heatmap MSE \d\.\d{5}, PCK@0\.2 \d\.\d{3}", head), head
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| joint")]
    assert [row.split("|")[1].strip() for row in rows[:-1]] == list(BODY25_JOINTS)
    header = next(line for line in text.splitlines() if line.startswith("| joint"))
    estimates = [cell.strip()[: -len(" mm")] for cell in header.split("|")[2:-2:3]]
    # the ghnerf-tiny preset has the pose head: volumetric, source-view and triangulated estimates, 3 columns each
    assert estimates == ["volumetric", "source-views", "triangulated"], header
    assert rows[-1].startswith("| **MPJPE** | **") and len(rows[-1].split("|")) == len(header.split("|")) == 13
    # joints found per estimate, out of the frame's joints with ground truth (25 per rendered view's estimate)
    found = re.search(r"joints found \(of those with ground truth\): volumetric (\d+)/(\d+) \(\d+%\), "
                      r"source-views (\d+)/(\d+) \(\d+%\), triangulated (\d+)/(\d+) \(\d+%\)", text)  # fmt: skip
    assert found, text[-500:]
    counts = [int(n) for n in found.groups()]
    assert all(0 <= counts[i] <= counts[i + 1] for i in (0, 2, 4)) and counts[1] == counts[3] > 0


def test_joint_errors_names_a_missing_config_or_step(tiny_run: Path, tmp_path: Path) -> None:
    proc = _run([str(tmp_path / "nope.yml")], tmp_path)
    assert proc.returncode != 0 and "nope.yml is not a file" in proc.stderr
    proc = _run([str(tiny_run), "--step", "2"], tmp_path)
    assert proc.returncode != 0 and "--step 2: no such checkpoint" in proc.stderr and "holds steps [3]" in proc.stderr


SIDES_SCRIPT = SCRIPT.parent / "source_view_sides.py"


def test_source_view_sides_table_on_the_tiny_run(tiny_run: Path, tmp_path: Path) -> None:
    """benchmarks/source_view_sides.py: one row per unseen subject and one for all frames, three estimates each."""
    out = tmp_path / "sides.md"
    args = [str(tiny_run), "--eval-frames", "0", "2", "1", "--out", str(out)]
    proc = subprocess.run([sys.executable, str(SIDES_SCRIPT), *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert text.strip() in proc.stdout
    assert "step 3: source-view 3D keypoints on 2 frames" in text.splitlines()[0]
    assert "| subject | vote | body-frame | side-blind |" in text
    rows = [line for line in text.splitlines() if line.startswith(f"| CoreView_{TEST_SUBJECTS[0]} ") or
            line.startswith("| **all** ")]  # fmt: skip
    assert len(rows) == 2
    for row in rows:
        cells = [cell.strip() for cell in row.split("|")[2:-1]]
        cell_pattern = r"(\d+\.\d \(\d+/50, \d+% > 100 mm\)|- \(0/50\))"
        assert len(cells) == 3 and all(re.fullmatch(cell_pattern, c) for c in cells), row
    proc = subprocess.run([sys.executable, str(SIDES_SCRIPT), str(tmp_path / "nope.yml")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert proc.returncode != 0 and "nope.yml is not a file" in proc.stderr


POSE_HEAD_SCRIPT = SCRIPT.parent / "pose_head_2d.py"


def test_pose_head_2d_table_on_the_tiny_run(tiny_run: Path, tmp_path: Path) -> None:
    """benchmarks/pose_head_2d.py: a row per joint and a pooled row, over every input view of the eval frames."""
    out = tmp_path / "pose_head.md"
    args = [str(tiny_run), "--eval-frames", "0", "2", "1", "--out", str(out)]
    proc = subprocess.run([sys.executable, str(POSE_HEAD_SCRIPT), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert text.strip() in proc.stdout
    head = text.splitlines()[0]
    assert re.search(rf"step 3: pose head on \d+ input views of CoreView_{TEST_SUBJECTS[0]}", head), head
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| joint")]
    assert [row.split("|")[1].strip() for row in rows] == [*BODY25_JOINTS, "**all**"]
    pooled = [cell.strip() for cell in rows[-1].split("|")[2:-1]]
    assert int(pooled[0]) > 0 and all(re.fullmatch(r"\d\.\d+", cell) for cell in pooled[1:]), rows[-1]
