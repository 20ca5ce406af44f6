"""The person's height in working pixels and the resolution ghnerf-apply picks from it (ghnerf_ns/data/person_scale.py):
hand cases, the sampled median against every mask read directly, and the record a training run writes."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from dataparsers.human_common import TARGETS_KEY
from dataparsers.zju_mocap_dataparser import ZJUMocapDataParserConfig
from ghnerf_ns.data.person_scale import SCALE_FILENAME, PersonScale, matched_resolution, measure_person_scale
from ghnerf_ns.synth import ZJUSynthConfig, write_zju


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("scale") / "zju"
    write_zju(ZJUSynthConfig(out=out, subjects=("390",), frames=2, cameras=6, resolution=64, progress=False))
    config = ZJUMocapDataParserConfig(data=out, train_subjects=("390",), test_subjects=("390",))
    return config.setup().get_dataparser_outputs(split="train").metadata[TARGETS_KEY]


def test_matched_resolution_hand_cases():
    trained = PersonScale(resolution=128, person_height_px=72.0, images=48)
    # 58 px at 128 -> 128 * 72 / 58 = 158.9 -> 160 (multiples of 32 only).
    assert matched_resolution(trained, PersonScale(128, 58.0, 10), largest=1920) == 160
    # Measured at another resolution: only the ratio counts (29 px at 64 is 58 px at 128).
    assert matched_resolution(trained, PersonScale(64, 29.0, 10), largest=1920) == 160
    assert matched_resolution(trained, PersonScale(128, 72.0, 10), largest=1920) == 128
    assert matched_resolution(trained, PersonScale(128, 144.0, 10), largest=1920) == 64
    assert matched_resolution(trained, PersonScale(128, 300.0, 10), largest=1920) == 64  # floor
    assert matched_resolution(trained, PersonScale(128, 10.0, 10), largest=512) == 512  # the images' own pixels


def test_measured_height_is_the_median_mask_box(people):
    """Every mask read directly (the capture has fewer than SAMPLE_IMAGES images, so all are measured)."""
    heights = []
    for path in people.mask_filenames:
        rows = np.flatnonzero(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).any(axis=1))
        heights.append(rows[-1] - rows[0] + 1)
    scale = measure_person_scale(people, 128)  # 64 px images worked at 128: twice as tall
    assert scale is not None and scale.images == len(people) >= 6 and scale.resolution == 128
    assert scale.person_height_px == pytest.approx(2 * np.median(heights))
    subset = measure_person_scale(people, 64, rows=[0, 1, 2])
    assert subset.images == 3 and subset.person_height_px == pytest.approx(np.median(heights[:3]))


def test_no_masks_no_scale_and_the_file_round_trips(people, tmp_path: Path):
    from dataclasses import replace

    assert measure_person_scale(replace(people, mask_filenames=[None] * len(people)), 128) is None
    scale = PersonScale(128, 73.5, 48)
    scale.write(tmp_path / SCALE_FILENAME)
    assert PersonScale.read(tmp_path / SCALE_FILENAME) == scale and PersonScale.read(tmp_path / "none.json") is None
    (tmp_path / SCALE_FILENAME).write_text("{}")
    with pytest.raises(ValueError, match="not a person scale file"):
        PersonScale.read(tmp_path / SCALE_FILENAME)
