"""ghnerf-synth zju --camera-height: per-subject ring heights within the range; the default keeps the real rig's."""

from pathlib import Path

import numpy as np
import pytest

from ghnerf_ns.synth import write_zju
from tests.synth.synth_configs import zju_config


def _camera_heights(root: Path, sid: str) -> np.ndarray:
    cams = np.load(root / f"CoreView_{sid}" / "annots.npy", allow_pickle=True).item()["cams"]
    centres = [-np.asarray(R).T @ (np.asarray(T).ravel() / 1000.0) for R, T in zip(cams["R"], cams["T"])]
    return -np.array(centres)[:, 2]  # ZJU: up is -z, floor at z = 0


def test_ring_heights_follow_the_range(tmp_path: Path) -> None:
    default = write_zju(zju_config(tmp_path / "d", subjects=("301", "302"), frames=1, cameras=3))
    for sid in ("301", "302"):
        assert np.all(np.abs(_camera_heights(default, sid) - 1.9) < 0.09)  # 1.9 m +- the rig's jitter
    varied = write_zju(
        zju_config(tmp_path / "v", subjects=("301", "302"), frames=1, cameras=3, camera_height=(1.0, 3.2))
    )
    means = [_camera_heights(varied, sid).mean() for sid in ("301", "302")]
    assert all(0.9 < m < 3.3 for m in means) and abs(means[0] - means[1]) > 0.05
    with pytest.raises(ValueError, match="--camera-height"):
        write_zju(zju_config(tmp_path / "bad", camera_height=(2.0, 1.0)))
