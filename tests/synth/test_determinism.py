"""Same seed -> byte-identical files; the subject id (with the seed) alone fixes a person."""

from pathlib import Path

import numpy as np

from ghnerf_ns.synth import write_renderpeople, write_zju
from tests.synth.synth_configs import rp_config, zju_config


def _files(root: Path) -> dict:
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_byte_identical(tmp_path: Path, zju_root: Path, rp_root: Path) -> None:
    again = _files(write_zju(zju_config(tmp_path / "zju", openpose_json=True)))
    first = _files(zju_root)
    assert again.keys() == first.keys()
    assert [k for k in first if first[k] != again[k]] == []  # npy, JSON, annots, and even JPEG/PNG
    rp_again = _files(write_renderpeople(rp_config(tmp_path / "rp")))
    rp_first = _files(rp_root)
    assert [k for k in rp_first if rp_first[k] != rp_again.get(k)] == []


def test_seed_and_subject_fix_the_person(tmp_path: Path, zju_root: Path) -> None:
    other_seed = write_zju(zju_config(tmp_path / "s1", seed=1, subjects=("386",), frames=1))
    other_set = write_zju(zju_config(tmp_path / "set", subjects=("392", "386"), frames=1))
    ref = np.load(zju_root / "CoreView_386" / "ghnerf_synth" / "joints3d" / "000000.npy")
    np.testing.assert_array_equal(np.load(other_set / "CoreView_386" / "ghnerf_synth" / "joints3d" / "000000.npy"), ref)
    assert not np.allclose(np.load(other_seed / "CoreView_386" / "ghnerf_synth" / "joints3d" / "000000.npy"), ref)
    assert not np.allclose(np.load(other_set / "CoreView_392" / "ghnerf_synth" / "joints3d" / "000000.npy"), ref)
