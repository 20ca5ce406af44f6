"""``ghnerf-apply``: point a trained GHNeRF run at a new capture, without training.

    ghnerf-apply --load-config RUN/config.yml --data NEW --output-dir OUT [zju-mocap-data --test-subjects ...]

writes ``OUT/config.yml``: the run's model and checkpoints (read from RUN, never copied), reading only NEW, where every
subject is an unseen test subject (or those given with the dataparser's own options, as for ns-train). It then prints
the ns-eval, ns-render, ns-viewer and ghnerf-keypoints commands that use it. How the config reads only NEW is
explained in :mod:`ghnerf_ns.applied_run`.

Example: the ``make demo`` run applied to two new synthetic people (both are test subjects; nothing is trained):

    ghnerf-synth zju --out data/new_people --subjects 501 502 --frames 2 --cameras 24
    ghnerf-apply --load-config demo_outputs/demo/ghnerf-tiny/run/config.yml --data data/new_people \\
        --output-dir outputs/new_people
"""

import copy
import shlex
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import tyro
import yaml
from nerfstudio.data.dataparsers.base_dataparser import DataParserConfig
from nerfstudio.engine.trainer import TrainerConfig
from nerfstudio.plugins.registry_dataparser import discover_dataparsers
from rich.console import Console
from rich.markup import escape

from dataparsers.human_common import SOURCES_KEY, TARGETS_KEY, DatasetFormatError, HumanImageIndex
from dataparsers.zju_mocap_dataparser import ZJUMocapDataParserConfig, zju_subject_name
from ghnerf_ns.applied_run import AppliedTrainerConfig, CaptureDataParserConfig, capture_subjects
from ghnerf_ns.data.person_scale import SCALE_FILENAME, PersonScale, matched_resolution, measure_person_scale
from ghnerf_ns.runtime import setup_runtime
from ghnerf_ns.runtime.user_errors import GHNeRFConfigError

CONSOLE = Console()
CONFIG_NAME = "config.yml"


class ApplyError(ValueError):
    """A user-facing error of ``ghnerf-apply``: the message names the file or option and the fix."""


def capture_dataparsers() -> Dict[str, DataParserConfig]:
    """The plugin's dataparsers (ns-train's subcommands) with every subject of the capture as a test subject by
    default: ``--test-subjects`` empty (ZJU-MoCap, EasyMocap: filled in by :func:`capture_config`),
    ``--num-train-subjects 0 --num-test-subjects 0`` (RenderPeople: all of human_list.txt)."""
    external, _ = discover_dataparsers()
    out: Dict[str, DataParserConfig] = {}
    for name, config in sorted(external.items()):
        config = copy.deepcopy(config)
        if hasattr(config, "test_subjects"):
            config.test_subjects = ()
        if hasattr(config, "num_train_subjects") and hasattr(config, "num_test_subjects"):
            config.num_train_subjects, config.num_test_subjects = 0, 0
        out[name] = config
    return out


_DEFAULTS = capture_dataparsers()
CaptureDataParserUnion = tyro.conf.OmitSubcommandPrefixes[
    tyro.extras.subcommand_type_from_defaults(_DEFAULTS, prefix_names=False)  # type: ignore[valid-type]
]


@dataclass
class ApplyCLI:
    """Point a trained GHNeRF run at a new capture (nothing is trained) and print the commands that use it."""

    load_config: Path
    """The trained run's config.yml (as written by ns-train)."""
    data: Path
    """The new capture's folder, in a layout the dataparser subcommand reads (default zju-mocap-data)."""
    output_dir: Path
    """Folder the new config.yml is written to (created); the printed commands write their outputs here too."""
    dataparser: CaptureDataParserUnion = field(default_factory=lambda: copy.deepcopy(_DEFAULTS["zju-mocap-data"]))
    """The capture's dataparser and its options, as for ns-train. Test subjects default to every subject of --data."""
    resolution: Optional[int] = None
    """Working resolution (long side, multiple of 32) for the capture; default: chosen by --match-person-scale, else
    the run's."""
    match_person_scale: bool = True
    """Without --resolution: work at the resolution (multiple of 32) at which the capture's person, measured on its
    input views' masks, is as tall in pixels as the run's training people were (the run folder's person_scale.json,
    else the run's training data when it is still there): the 2D pose head finds bodies at the scale it learned.
    Without masks or without a record of the training people, the run's resolution is kept (and said)."""
    load_step: Optional[int] = None
    """Checkpoint step to use; default: the run's latest."""
    num_views: Optional[int] = None
    """Input views each prediction may use (renders, 2D and 3D keypoints): the N input cameras nearest to the rendered
    camera, 0 = every input camera of the frame; default: the run's --pipeline.model.num-source-views."""


def checkpoint_dir(run_config: Path, config: TrainerConfig, load_step: Optional[int]) -> Path:
    """The run's checkpoint folder (absolute), checked to hold the checkpoint the tools will load."""
    # The run folder is where its config.yml lies; its own output_dir may be relative to wherever ns-train ran.
    ckpts = (run_config.parent / config.relative_model_dir).resolve()
    found = sorted(ckpts.glob("step-*.ckpt")) if ckpts.is_dir() else []
    if not found:
        raise ApplyError(
            f"{ckpts}: no checkpoint (step-*.ckpt) of the run of --load-config {run_config}; train it until a "
            "checkpoint is saved (ns-train --steps-per-save), or pass the config.yml of a run that has one"
        )
    if load_step is not None and not (ckpts / f"step-{load_step:09d}.ckpt").is_file():
        steps = [int(p.stem.split("-")[1]) for p in found]
        raise ApplyError(f"--load-step {load_step}: {ckpts} has no such checkpoint; it has steps {steps}")
    return ckpts


def read_run_config(path: Path) -> TrainerConfig:
    """The trained run's config, checked to be a GHNeRF run's."""
    from ghnerf_ns.pipeline import GHNeRFPipelineConfig

    if not path.is_file():
        raise ApplyError(f"--load-config {path}: not found; pass the config.yml that ns-train wrote in the run folder")
    config = yaml.load(path.read_text(), Loader=yaml.Loader)
    if not isinstance(config, TrainerConfig) or not isinstance(config.pipeline, GHNeRFPipelineConfig):
        raise ApplyError(f"--load-config {path}: not the config.yml of a GHNeRF run (ns-train ghnerf, ghnerf-tiny...)")
    return config


def capture_config(dataparser: DataParserConfig, data: Path) -> DataParserConfig:
    """The capture's dataparser config with its test subjects resolved: every subject of ``data`` unless given."""
    config = copy.deepcopy(dataparser)
    config.data = data
    found = capture_subjects(config, data)
    if found is None:  # chosen by count (RenderPeople: 0 and 0 = all), checked by the parser
        return config
    present, rule = found
    if not present:
        raise ApplyError(
            f"--data {data}: no subject found ({rule}); pass the capture's folder, or the dataparser subcommand of "
            "its layout (zju-mocap-data, easymocap-data, ...)"
        )
    if not config.test_subjects:
        config.test_subjects = tuple(present)
    normalise = zju_subject_name if isinstance(config, ZJUMocapDataParserConfig) else str
    missing = [s for s in config.test_subjects if normalise(s) not in present]
    if missing:
        raise ApplyError(
            f"--test-subjects: {missing} not in --data {data}, which holds {present}; leave --test-subjects out to use "
            "every subject"
        )
    return config


@dataclass
class AppliedRun:
    """What :func:`apply_run` wrote."""

    config: Path
    """The new config.yml."""
    checkpoints: Path
    """The trained run's checkpoint folder it loads from."""
    targets: HumanImageIndex
    """The capture's eval images (test cameras of its test subjects)."""
    resolution_note: str = ""
    """How the working resolution was chosen (printed by the command)."""


def apply_run(cli: ApplyCLI) -> AppliedRun:
    """Write ``OUT/config.yml`` (see the module docstring)."""
    from ghnerf_ns.data.image_loading import working_size

    run_config = cli.load_config.resolve()
    data, out = cli.data.resolve(), cli.output_dir.resolve()
    if out == run_config.parent:
        raise ApplyError(f"--output-dir {cli.output_dir} is the run's own folder; choose a new folder")
    run = read_run_config(run_config)
    # (An applied config can be applied again: its checkpoint folder is already absolute.)
    copied = {f.name: getattr(run, f.name) for f in fields(run) if f.init and f.name != "applied_dir"}
    applied = AppliedTrainerConfig(**copied, applied_dir=out)
    ckpts = checkpoint_dir(run_config, applied, cli.load_step)
    capture = CaptureDataParserConfig(data=data, capture=capture_config(cli.dataparser, data))
    # Parse now (paths and cameras only, nothing decoded): a bad capture fails here, not in every later command.
    test_split = capture.setup().get_dataparser_outputs(split="test")
    targets = test_split.metadata[TARGETS_KEY]
    datamanager = applied.pipeline.datamanager
    trained = _trained_scale(run_config, run)
    note = ""
    if cli.resolution is not None:
        working_size(cli.resolution, cli.resolution, cli.resolution)  # a clear error for a bad value
        datamanager.resolution = cli.resolution
    elif cli.match_person_scale:
        datamanager.resolution, note = _scale_matched(trained, test_split.metadata[SOURCES_KEY], datamanager.resolution)
    if cli.num_views is not None:
        if cli.num_views < 0:
            raise ApplyError(f"--num-views {cli.num_views}: give a number of input views >= 1, or 0 for all of them")
        applied.pipeline.model.num_source_views = cli.num_views
    datamanager.data = data
    datamanager.dataparser = capture
    applied.relative_model_dir = ckpts
    applied.load_dir = ckpts
    applied.load_step = cli.load_step
    applied.output_dir = out
    applied.experiment_name = data.name
    out.mkdir(parents=True, exist_ok=True)
    path = out / CONFIG_NAME
    path.write_text(yaml.dump(applied), "utf8")
    if trained is not None:  # the applied config carries the training people's scale, so it can be applied again
        trained.write(out / SCALE_FILENAME)
    return AppliedRun(config=path, checkpoints=ckpts, targets=targets, resolution_note=note)


def _trained_scale(run_config: Path, run: TrainerConfig) -> Optional[PersonScale]:
    """The run's training people's scale: its record, else (a run trained before the record existed) measured on its
    training data when that is still readable; None when neither is there."""
    recorded = PersonScale.read(run_config.parent / SCALE_FILENAME)
    if recorded is not None or isinstance(run, AppliedTrainerConfig):
        return recorded
    parser = copy.deepcopy(run.pipeline.datamanager.dataparser)
    if run.pipeline.datamanager.data is not None:  # ns-train's --data wins over the dataparser's own (as at training)
        parser.data = Path(run.pipeline.datamanager.data)
    try:
        train = parser.setup().get_dataparser_outputs(split="train")
    except (DatasetFormatError, GHNeRFConfigError, OSError):
        return None
    return measure_person_scale(train.metadata[TARGETS_KEY], run.pipeline.datamanager.resolution)


def _scale_matched(trained: Optional[PersonScale], sources: HumanImageIndex, resolution: int) -> Tuple[int, str]:
    """(working resolution, what the user is told) by --match-person-scale."""
    keep = f"working resolution {resolution} (the run's"
    if trained is None:
        return resolution, f"{keep}: no {SCALE_FILENAME} in the run folder and its training data is not readable)"
    capture = measure_person_scale(sources, resolution)
    if capture is None:
        return resolution, f"{keep}: the capture's input views have no masks to measure the person on)"
    # Upsampling past the images' own pixels adds nothing; 4x the run's bounds the cost.
    native = int(min(np.maximum(sources.width, sources.height)))
    chosen = matched_resolution(trained, capture, min(native // 32 * 32, 4 * resolution))
    return chosen, (
        f"working resolution {chosen}: the capture's person is {capture.person_height_px:.0f} px tall at the run's "
        f"{resolution} (median of {capture.images} input-view masks), the training people "
        f"{trained.person_height_px:.0f} px; --resolution N chooses another"
    )


def usage_commands(config: Path, targets: HumanImageIndex) -> List[str]:
    """The commands that use an applied config (outputs beside it), for the first subject and frame of the capture."""
    out = config.parent
    subject = targets.subjects[int(targets.subject_idx[0])]
    frame = int(targets.frame[0])
    c, q = shlex.quote(str(config)), lambda p: shlex.quote(str(out / p))
    env = f"GHNERF_SUBJECT={shlex.quote(subject)} GHNERF_FRAME={frame}"
    outputs = "rgb heatmap_overlay keypoints_overlay"
    return [
        f"ns-eval --load-config {c} --output-path {q('eval.json')} --render-output-path {q('eval_images')}",
        f"ns-render dataset --load-config {c} --output-path {q('renders')} --rendered-output-names {outputs}",
        f"ghnerf-camera-path --load-config {c} --output-path {q('orbit.json')} --subject {shlex.quote(subject)} "
        f"--frame {frame} && {env} ns-render camera-path --load-config {c} --camera-path-filename {q('orbit.json')} "
        f"--rendered-output-names {outputs} --output-path {q('orbit.mp4')}",
        f"ns-viewer --load-config {c} --viewer.websocket-host 127.0.0.1",
        f"ghnerf-keypoints --load-config {c} --output-dir {q('keypoints')}",
    ]


def entrypoint() -> None:
    """Console-script entry point."""
    tyro.extras.set_accent_color("bright_yellow")
    cli = tyro.cli(ApplyCLI, prog="ghnerf-apply", description=__doc__)
    setup_runtime()
    try:
        applied = apply_run(cli)
    except (ApplyError, DatasetFormatError, GHNeRFConfigError) as err:
        CONSOLE.print(f"[bold red]ghnerf-apply:[/bold red] {escape(str(err))}", soft_wrap=True)
        raise SystemExit(2) from None
    targets = applied.targets
    subjects = sorted({targets.subjects[i] for i in set(targets.subject_idx.tolist())})
    CONSOLE.print(
        f"[bold green]Wrote {escape(str(applied.config))}[/bold green]: {len(targets)} eval images of {len(subjects)} "
        f"unseen subject(s) ({escape(', '.join(subjects))}), checkpoints of {escape(str(applied.checkpoints))}",
        soft_wrap=True,
    )
    if applied.resolution_note:
        CONSOLE.print(escape(applied.resolution_note[0].upper() + applied.resolution_note[1:]), soft_wrap=True)
    CONSOLE.print("Commands (evaluation JSON, rendered test views, orbit video, viewer, keypoints):")
    for line in usage_commands(applied.config, targets):
        print(line, flush=True)  # plain: copy-pasteable, never wrapped


if __name__ == "__main__":
    entrypoint()
