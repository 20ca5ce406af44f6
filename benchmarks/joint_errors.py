"""Per-joint 3D keypoint errors of a trained run: which joints fail, whether they sit on the wrong side, and how.

    # the run's own eval split (what ns-eval scores)
    python benchmarks/joint_errors.py outputs/.../config.yml
    # more unseen people for a steadier table: other subjects/frames of a ghnerf-synth folder, a given checkpoint
    python benchmarks/joint_errors.py outputs/.../config.yml --data /tmp/val --test-subjects 387 392 \\
        --eval-frames 1 8 2 --step 1500 --out benchmarks/results/joint_errors.md

The run is loaded as ``ns-eval`` loads it (``eval_setup``); ``--data``, ``--test-subjects`` and ``--eval-frames``
replace the dataparser's settings first (the training subjects stay in the config: the folder must hold them too, as
the dataparser reads every subject's cameras). The eval images are rendered as ``ns-eval`` renders them, their 2D
keypoints are triangulated, the volumetric 3D peaks are queried, and both estimates are compared per joint with
:func:`ghnerf_ns.keypoints.error_analysis.joint_error_table`: mean error, side-swap rate, side-blind error and the
mean offset in the body frame. Prints ns-eval's PSNR, SSIM, heatmap MSE and pooled PCK@0.2, then the markdown table
(also written to ``--out``).
"""

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

SUMMARY = (
    ("PSNR", "psnr", ".2f"),
    ("SSIM", "ssim", ".3f"),
    ("heatmap MSE", "heatmap_mse", ".5f"),
    ("PCK@0.2", "pck", ".3f"),
)
"""ns-eval metrics printed above the table: (label, key, format)."""


def parse_run_arguments(doc: str, argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """The options shared by the scripts here: the run's checkpoint, the unseen people it is scored on, and where the
    table goes; a config that is not a file stops with a clear message."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path, help="the run's config.yml")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: the latest)")
    parser.add_argument("--data", type=Path, default=None, help="dataset folder replacing the run's")
    parser.add_argument("--test-subjects", nargs="+", default=None, help="eval subjects replacing the run's")
    parser.add_argument("--eval-frames", nargs=3, type=int, default=None, help="start stop step of the eval frames")
    parser.add_argument(
        "--num-views", type=int, default=None, help="input views per prediction (default: the run's; 0 = all)"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    args = parser.parse_args(argv)
    if not args.config.is_file():
        parser.error(f"{args.config} is not a file: give the config.yml of a training run")
    return args


def print_and_write(text: str, out: Optional[Path]) -> None:
    """Print the table and, with ``--out``, write it there too."""
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


def config_update(args: argparse.Namespace) -> Callable:
    """``eval_setup``'s update callback for :func:`parse_run_arguments`' options: another dataset folder, eval subjects
    and frames (the training subjects stay: the folder must hold them too), and a checkpoint step (a missing one stops
    with the steps the run holds)."""

    def update(config):
        parser_config = config.pipeline.datamanager.dataparser
        if args.data is not None:
            config.data = args.data
            config.pipeline.datamanager.data = args.data
            parser_config.data = args.data
        if args.test_subjects is not None:
            parser_config.test_subjects = tuple(args.test_subjects)
        if args.eval_frames is not None:
            parser_config.eval_frames = tuple(args.eval_frames)
        if args.num_views is not None:
            config.pipeline.model.num_source_views = args.num_views
        if args.step is not None:
            ckpt_dir = config.get_checkpoint_dir()
            if not (ckpt_dir / f"step-{args.step:09d}.ckpt").is_file():
                steps = sorted(int(p.stem.split("-")[1]) for p in ckpt_dir.glob("step-*.ckpt"))
                sys.exit(f"--step {args.step}: no such checkpoint in {ckpt_dir}; it holds steps {steps or 'none'}")
            config.load_step = args.step
        return config

    return update


def _found(frames: Sequence[Any]) -> str:
    """``found/known (share)`` over :class:`~ghnerf_ns.keypoints.error_analysis.FrameKeypoints3D` rows: the joints
    with ground truth that the estimate found (a lower error bought by finding fewer joints shows here)."""
    known = sum(int((f.gt[:, 3] > 0).sum()) for f in frames)
    found = sum(int(((f.gt[:, 3] > 0) & f.pred_valid).sum()) for f in frames)
    return f"{found}/{known} ({found / max(known, 1):.0%})"


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_run_arguments(__doc__, argv)

    import numpy as np
    from nerfstudio.utils.eval_utils import eval_setup

    from ghnerf_ns.keypoints.error_analysis import FrameKeypoints3D, format_joint_table, joint_error_table
    from ghnerf_ns.keypoints.keypoints3d import triangulated_keypoints
    from ghnerf_ns.pipeline import aggregate_image_metrics

    _, pipeline, _, step = eval_setup(args.config, test_mode="test", update_config_callback=config_update(args))
    per_image, frames = pipeline._evaluate_images(None)
    estimates: Dict[str, List[FrameKeypoints3D]] = {}
    for views in frames.values():
        gt_np = pipeline.frame_ground_truth(views).cpu().numpy().astype(np.float64)
        if not (gt_np[:, 3] > 0).any():
            continue
        # Every view's own estimates (from its source views), and the rendered views' 2D keypoints triangulated.
        kinds = {**views.estimates, "triangulated": [triangulated_keypoints(views.keypoints_2d, views.K, views.w2c)]}
        for kind, per_view in kinds.items():
            estimates.setdefault(kind, []).extend(
                FrameKeypoints3D(points[:, :3].cpu().numpy(), valid.cpu().numpy(), gt_np) for points, valid in per_view
            )
    if not estimates:
        sys.exit("no eval frame has 3D ground truth: nothing to compare")
    tables = [joint_error_table(frames_of_kind) for frames_of_kind in estimates.values()]
    pooled = aggregate_image_metrics(per_image)
    subjects = sorted({v.subject for v in frames.values()})
    text = (
        f"`{args.config}` step {step}: {len(frames)} frames of {', '.join(subjects)}, "
        f"{len(per_image)} images: "
        + ", ".join(f"{name} {pooled.get(key, float('nan')):{fmt}}" for name, key, fmt in SUMMARY)
        + "\n\n"
        + format_joint_table(tables, list(estimates))
        + "\n\njoints found (of those with ground truth): "
        + ", ".join(f"{kind} {_found(frames_of_kind)}" for kind, frames_of_kind in estimates.items())
    )
    print_and_write(text, args.out)


if __name__ == "__main__":
    main()
