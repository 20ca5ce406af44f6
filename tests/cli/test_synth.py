"""The ghnerf-synth CLI (run as ``python -m ghnerf_ns.cli.synth`` in a subprocess) and its option checks: the zju
defaults against the zju-mocap-data dataparser's, and --subjects/--num-subjects meaning the same in every layout."""

import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
import pytest
import tyro

from dataparsers.index_utils import index_range, view_ids
from dataparsers.zju_mocap_dataparser import ZJUMocapDataParserConfig, zju_subject_name
from ghnerf_ns.cli.synth import Commands, main
from ghnerf_ns.synth import EasyMocapSynthConfig, RenderPeopleSynthConfig, ZJUSynthConfig, write_renderpeople, write_zju
from ghnerf_ns.synth.easymocap_writer import easymocap_subject_ids
from ghnerf_ns.synth.renderpeople_writer import rp_subject_ids
from ghnerf_ns.synth.zju_writer import num_cameras_for, resolve_style, zju_subject_ids
from tests.synth.synth_configs import rp_config, zju_config

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ghnerf_ns.cli.synth", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_cli_zju_and_renderpeople(tmp_path: Path) -> None:
    result = _run("zju", "--out", str(tmp_path / "z"), "--subjects", "313", "386", "--frames", "1", "--cameras", "2",
                  "--resolution", "32", "--no-distortion", "--style", "auto", "--cse-dim", "4", "--openpose-json",
                  "--seed", "3", "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    annots = np.load(tmp_path / "z" / "CoreView_386" / "annots.npy", allow_pickle=True).item()
    assert len(annots["cams"]["K"]) == 2 and not np.any(annots["cams"]["D"][0])
    assert np.load(tmp_path / "z" / "CoreView_386" / "cse" / "Camera_B1" / "000000.npy").shape == (8, 8, 4)
    assert (tmp_path / "z" / "CoreView_313" / "openpose" / "Camera (2)").is_dir()
    result = _run("renderpeople", "--out", str(tmp_path / "r"), "--num-subjects", "1", "--frames", "1",
                  "--cameras", "2", "--resolution", "32", "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r" / "seq_000000-rp_synth_0000_rigged_001" / "img" / "camera0001" / "0000.jpg").is_file()


def test_cli_bad_options_fail_clearly(tmp_path: Path) -> None:
    result = _run("zju", "--out", str(tmp_path), "--resolution", "16", "--no-progress")
    assert result.returncode == 2 and "--resolution must be at least 32" in result.stderr
    with pytest.raises(SystemExit):  # tyro rejects an unknown style before anything runs
        tyro.cli(Commands, args=["zju", "--out", str(tmp_path), "--style", "b21"])


def test_writer_option_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--cameras must be at least 2"):
        write_zju(zju_config(tmp_path, cameras=1))
    with pytest.raises(ValueError, match="--resolution"):
        write_renderpeople(rp_config(tmp_path, resolution=31))
    with pytest.raises(ValueError, match="folder name"):
        write_zju(zju_config(tmp_path, subjects=("a/b",)))
    with pytest.raises(ValueError, match="duplicates"):
        write_zju(zju_config(tmp_path, subjects=("386", "386")))
    with pytest.raises(ValueError, match="--frames"):
        write_renderpeople(rp_config(tmp_path, frames=0))


def test_zju_defaults_are_the_dataparser_defaults(tmp_path: Path) -> None:
    """``ghnerf-synth zju --out D`` then ``ns-train ghnerf-tiny --data D``: every subject of zju-mocap-data's default
    split is written, each with enough default input cameras for ghnerf-tiny's source views, and frame 0 (the first
    default eval frame) exists. Checked on the parsed options, without writing the dataset (tests/e2e does that)."""
    from ghnerf_ns.ghnerf_config import ghnerf_tiny_method

    cfg = tyro.cli(Commands, args=["zju", "--out", str(tmp_path / "d")])
    assert isinstance(cfg, ZJUSynthConfig)
    parser = ZJUMocapDataParserConfig()
    split = [zju_subject_name(name) for name in parser.train_subjects + parser.test_subjects]
    assert sorted(f"CoreView_{sid}" for sid in zju_subject_ids(cfg)) == sorted(split)
    tiny = ghnerf_tiny_method.config.pipeline
    assert cfg.resolution == tiny.datamanager.resolution  # written at the preset's working resolution: no resizing
    for sid in zju_subject_ids(cfg):
        num_cameras = num_cameras_for(cfg, resolve_style(cfg.style, sid))
        inputs = view_ids(parser.input_views, parser.input_view_ids, num_cameras, "input_view_ids", sid)
        tests = view_ids(parser.test_views, parser.test_view_ids, num_cameras, "test_view_ids", sid)
        # A training target never conditions on its own image: the sources come from the other input cameras.
        assert len(inputs) - 1 >= tiny.model.num_source_views, (sid, inputs)
        assert tests and not set(tests) & set(inputs), (sid, tests)
    assert 0 in index_range(parser.eval_frames, cfg.frames, "eval_frames")
    assert index_range(parser.train_frames, cfg.frames, "train_frames") == list(range(cfg.frames))


LAYOUTS: Dict[str, Callable[..., List[str]]] = {
    "zju": zju_subject_ids, "renderpeople": rp_subject_ids, "easymocap": easymocap_subject_ids,
}  # fmt: skip
"""Each subcommand and the function that gives the subject ids its writer uses."""
TINY = ["--frames", "1", "--cameras", "2", "--resolution", "32", "--cse-downscale", "8", "--no-progress"]
"""Size options, the same in every subcommand, of a dataset written in well under a second."""


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_subjects_are_ids_and_num_subjects_a_count_in_every_layout(tmp_path: Path, layout: str) -> None:
    ids_of = LAYOUTS[layout]
    by_ids = tyro.cli(Commands, args=[layout, "--out", str(tmp_path / "ids"), "--subjects", "7", "a1", *TINY])
    assert by_ids.subjects == ("7", "a1") and by_ids.num_subjects is None and ids_of(by_ids) == ["7", "a1"]
    assert (by_ids.frames, by_ids.cameras, by_ids.resolution, by_ids.seed) == (1, 2, 32, 0)
    by_count = tyro.cli(Commands, args=[layout, "--out", str(tmp_path / "count"), "--num-subjects", "3", *TINY])
    numbered = ids_of(by_count)
    assert [int(sid) for sid in numbered] == [0, 1, 2] and len(set(map(len, numbered))) == 1  # zero-padded
    main(by_ids)
    main(by_count)
    folders = {
        "zju": (["CoreView_7", "CoreView_a1"], ["CoreView_000", "CoreView_001", "CoreView_002"]),
        "renderpeople": (
            ["seq_000000-rp_synth_7_rigged_001", "seq_000001-rp_synth_a1_rigged_001"],
            [f"seq_{i:06d}-rp_synth_{i:04d}_rigged_001" for i in range(3)],
        ),
        "easymocap": (["subject_7", "subject_a1"], ["subject_00", "subject_01", "subject_02"]),
    }[layout]
    for out, expected in zip(("ids", "count"), folders):
        written = sorted(p.name for p in (tmp_path / out).iterdir() if p.is_dir())
        assert written == sorted(expected), (out, written)
    # One frame per subject in every layout (--frames means the same everywhere).
    assert len(list((tmp_path / "ids").rglob("ghnerf_synth/joints3d/*.npy"))) == 2
    with pytest.raises(ValueError, match="either --subjects .* or --num-subjects"):
        ids_of(tyro.cli(Commands, args=[layout, "--out", str(tmp_path), "--subjects", "7", "--num-subjects", "2"]))
    with pytest.raises(ValueError, match="--num-subjects must be at least 1"):
        ids_of(tyro.cli(Commands, args=[layout, "--out", str(tmp_path), "--num-subjects", "0"]))
    with pytest.raises(ValueError, match="--subjects needs at least one"):
        ids_of(tyro.cli(Commands, args=[layout, "--out", str(tmp_path), "--subjects"]))


def test_shared_options_have_one_name_in_every_layout() -> None:
    shared = {"out", "subjects", "num_subjects", "frames", "cameras", "resolution", "seed", "fps", "cse_dim",
              "cse_downscale", "num_surface_points", "jpeg_quality", "progress"}  # fmt: skip
    for config in (ZJUSynthConfig, RenderPeopleSynthConfig, EasyMocapSynthConfig):
        names = {f.name for f in fields(config)}
        assert shared <= names and "poses" not in names, (config.__name__, shared - names)


def test_subject_ids_are_not_folder_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pass 313 for the folder CoreView_313"):
        write_zju(zju_config(tmp_path, subjects=("CoreView_313",)))
    with pytest.raises(ValueError, match="pass 00 for the folder subject_00"):
        easymocap_subject_ids(EasyMocapSynthConfig(out=tmp_path, subjects=("subject_00",)))
