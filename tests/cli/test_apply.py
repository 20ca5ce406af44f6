"""ghnerf-apply's config (no training, no checkpoint loading): what it reads, where the tools look, and one clear
error for each bad input. The end-to-end use of the written config is tests/e2e/test_apply_capture.py."""

import copy
import sys
from pathlib import Path

import pytest
import yaml
from nerfstudio.utils.rich_utils import CONSOLE

from dataparsers.easymocap_dataparser import EasyMocapDataParserConfig
from dataparsers.human_common import SOURCES_KEY, TARGETS_KEY
from dataparsers.zju_mocap_dataparser import ZJUMocapDataParserConfig
from ghnerf_ns.cli.apply import ApplyCLI, ApplyError, apply_run, entrypoint
from ghnerf_ns.ghnerf_config import ghnerf_tiny_method
from ghnerf_ns.runtime.user_errors import GHNeRFConfigError
from ghnerf_ns.synth import EasyMocapSynthConfig, ZJUSynthConfig, write_easymocap, write_zju


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("apply") / "capture"
    write_zju(ZJUSynthConfig(out=out, subjects=("390", "394"), frames=1, cameras=4, resolution=64, progress=False))
    return out


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """config.yml of a ghnerf-tiny "run" with one (empty) checkpoint file: enough for ghnerf-apply, which loads none."""
    config = copy.deepcopy(ghnerf_tiny_method.config)
    config.output_dir, config.experiment_name, config.timestamp = Path("outputs"), "zju", "run"  # relative, as ns-train
    folder = tmp_path / "outputs" / "zju" / "ghnerf-tiny" / "run"
    (folder / "nerfstudio_models").mkdir(parents=True)
    (folder / "nerfstudio_models" / "step-000000007.ckpt").write_bytes(b"")
    (folder / "config.yml").write_text(yaml.dump(config))
    return folder / "config.yml"


def apply(run: Path, data: Path, out: Path, **options):
    return apply_run(ApplyCLI(load_config=run, data=data, output_dir=out, **options))


def test_every_subject_of_the_capture_is_a_test_subject(run: Path, capture: Path, tmp_path: Path):
    applied = apply(run, capture, tmp_path / "out")
    assert applied.config == tmp_path / "out" / "config.yml" and applied.checkpoints == run.parent / "nerfstudio_models"
    config = yaml.load(applied.config.read_text(), Loader=yaml.Loader)
    # Where the ns-* tools look: the base folder is OUT, the checkpoints are the run's (eval_setup: get_checkpoint_dir).
    assert config.get_base_dir() == tmp_path / "out" and config.get_checkpoint_dir() == run.parent / "nerfstudio_models"
    assert config.method_name == "ghnerf-tiny" and config.experiment_name == "capture"
    dm = config.pipeline.datamanager
    assert dm.data == capture and dm.dataparser.data == capture
    assert dm.dataparser.capture.test_subjects == ("CoreView_390", "CoreView_394")
    parser = dm.dataparser.setup()
    test, train = parser.get_dataparser_outputs("test"), parser.get_dataparser_outputs("train")
    assert sorted(test.metadata[TARGETS_KEY].subjects) == ["CoreView_390", "CoreView_394"]
    # The set-up-only train split: the test subjects' input cameras (never trained on), nothing of any other capture.
    sources = test.metadata[SOURCES_KEY]
    assert train.image_filenames == sources.image_filenames and train.metadata[TARGETS_KEY] is sources
    assert all(Path(p).is_relative_to(capture) for p in train.image_filenames + test.image_filenames)
    # An applied config applies again (to another capture, or a moved copy): same checkpoints.
    again = apply(applied.config, capture, tmp_path / "again")
    assert again.checkpoints == applied.checkpoints


def test_dataparser_options_choose_subjects_and_resolution(run: Path, capture: Path, tmp_path: Path):
    parser = ZJUMocapDataParserConfig(test_subjects=("394",), eval_frames=(0, -1, 1))
    applied = apply(run, capture, tmp_path / "out", dataparser=parser, resolution=96, load_step=7)
    config = yaml.load(applied.config.read_text(), Loader=yaml.Loader)
    assert config.pipeline.datamanager.dataparser.capture.test_subjects == ("394",) and config.load_step == 7
    assert config.pipeline.datamanager.resolution == 96
    assert set(applied.targets.subjects) == {"CoreView_394"}


def test_resolution_matches_the_training_people(run: Path, tmp_path: Path):
    """--match-person-scale (default): the capture's input-view masks against the run's person_scale.json."""
    from ghnerf_ns.data.person_scale import SCALE_FILENAME, PersonScale, measure_person_scale

    capture = tmp_path / "big"
    write_zju(ZJUSynthConfig(out=capture, subjects=("390",), frames=1, cameras=4, resolution=256, progress=False))

    def resolution(applied) -> int:
        return yaml.load(applied.config.read_text(), Loader=yaml.Loader).pipeline.datamanager.resolution

    no_record = apply(run, capture, tmp_path / "none")  # the fixture run's training data does not exist
    assert resolution(no_record) == 128 and "128 (the run's: no person_scale.json" in no_record.resolution_note
    parser = ZJUMocapDataParserConfig(data=capture, test_subjects=("390",)).setup()
    height = measure_person_scale(parser.get_dataparser_outputs("test").metadata[SOURCES_KEY], 128).person_height_px
    # Training people 1.5 times as tall as the capture's person at 128 px: 192.
    PersonScale(128, 1.5 * height, 48).write(run.parent / SCALE_FILENAME)
    taller = apply(run, capture, tmp_path / "taller")
    assert resolution(taller) == 192 and taller.resolution_note.startswith("working resolution 192: the capture's")
    assert PersonScale.read(tmp_path / "taller" / SCALE_FILENAME).person_height_px == 1.5 * height
    again = apply(taller.config, capture, tmp_path / "again")  # an applied config carries the record
    assert resolution(again) == 192
    PersonScale(128, 0.5 * height, 48).write(run.parent / SCALE_FILENAME)
    assert resolution(apply(run, capture, tmp_path / "smaller")) == 64
    PersonScale(128, 3.0 * height, 48).write(run.parent / SCALE_FILENAME)
    assert resolution(apply(run, capture, tmp_path / "capped")) == 256  # 384 wanted: the images' own 256 px
    assert resolution(apply(run, capture, tmp_path / "kept", match_person_scale=False)) == 128
    assert resolution(apply(run, capture, tmp_path / "chosen", resolution=96)) == 96


def test_easymocap_capture_folder_or_single_sequence(run: Path, tmp_path: Path):
    """EasyMocap layout (the ns-train subcommand easymocap-data): every sequence of a folder, or the one given."""
    data = tmp_path / "em"
    write_easymocap(EasyMocapSynthConfig(out=data, num_subjects=2, frames=1, cameras=4, resolution=64, mixed_sizes=True,
                                         progress=False))  # fmt: skip
    sequences = tuple(sorted(p.name for p in data.iterdir() if (p / "intri.yml").is_file()))
    assert len(sequences) == 2

    with CONSOLE.capture() as printed:
        applied = apply(run, data, tmp_path / "out", dataparser=EasyMocapDataParserConfig())
    assert sorted(set(applied.targets.subjects)) == list(sequences)
    # Nothing is trained: no "test subject also trains" warning (the parser's assumption for a shared split).
    assert "Warning: test subject" not in printed.get() and "subject_00" in printed.get()
    single = apply(run, data / sequences[0], tmp_path / "out1", dataparser=EasyMocapDataParserConfig())
    assert set(single.targets.subjects) == {sequences[0]}


@pytest.mark.parametrize(
    "case, expected",
    [
        ("no checkpoint", "no checkpoint (step-*.ckpt)"),
        ("unknown subject", "--test-subjects: ['999'] not in --data"),
        ("no subjects", "no subject found (sub-folders holding an annots.npy"),
        ("run folder", "is the run's own folder"),
        ("bad step", "--load-step 3:"),
        ("no config", "--load-config"),
        ("bad resolution", "not a positive multiple of 32"),
    ],
)
def test_bad_input_gets_one_clear_error(run: Path, capture: Path, tmp_path: Path, case: str, expected: str):
    data, out, options = capture, tmp_path / "out", {}
    if case == "no checkpoint":
        (run.parent / "nerfstudio_models" / "step-000000007.ckpt").unlink()
    elif case == "unknown subject":
        options["dataparser"] = ZJUMocapDataParserConfig(test_subjects=("390", "999"))
    elif case == "no subjects":
        data = tmp_path / "empty"
        data.mkdir()
    elif case == "run folder":
        out = run.parent
    elif case == "bad step":
        options["load_step"] = 3
    elif case == "no config":
        run = tmp_path / "missing.yml"
    elif case == "bad resolution":
        options["resolution"] = 100
    with pytest.raises((ApplyError, GHNeRFConfigError)) as err:
        apply(run, data, out, **options)
    assert expected in str(err.value)
    assert not (tmp_path / "out" / "config.yml").exists()


def test_command_line_errors_exit_2_with_one_line(run: Path, tmp_path: Path, monkeypatch, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["ghnerf-apply", "--load-config", str(run), "--data", str(empty), "--output-dir", str(tmp_path / "o")]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        entrypoint()
    assert exit_info.value.code == 2
    out = capsys.readouterr().out
    assert "ghnerf-apply:" in out and str(empty) in out.replace("\n", "") and "Traceback" not in out
