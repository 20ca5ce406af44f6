"""How well a run's 2D pose head finds each joint on the input views themselves, before any 3D step.

    # unseen synthetic people (as joint_errors.py: the folder must hold the run's training subjects too)
    python benchmarks/pose_head_2d.py RUN/config.yml --data /tmp/val --test-subjects 461 462 --eval-frames 0 4 2
    # a real capture: the config ghnerf-apply wrote (benchmarks/real_person.py leaves it in WORK/applied/)
    python benchmarks/pose_head_2d.py WORK/applied/config.yml

For every frame of every eval subject, the pose head runs on all input views of the frame (as the 3D keypoints read
them), each midline joint's channel gives its highest cell (centre, in working pixels) and each left/right pair its
two highest separate cells (:func:`view_errors`), and the points are compared with the view's own 2D keypoints (the
dataset's, or the teacher's on a real capture), read for this comparison only. The error is side-blind (an
either-side head names no side) and divided by the height of the view's mask, so people of any size compare. Prints,
per joint and pooled, the median error and the share within 0.1 and 0.2 of the person's height (0.1 of a 1.75 m
person is 175 mm), and the channels' mean peak.
"""

import sys
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from joint_errors import config_update, parse_run_arguments, print_and_write  # noqa: E402
from yolo_keypoints_2d import COCO_TO_BODY25, side_blind_errors  # noqa: E402

PAIR_SEPARATION_CELLS = 2
"""A left/right pair's second point is the highest cell of the pair's merged map more than this many cells (in x or
y) from the first."""


def _cell_centre(flat: int, width: int, stride: float) -> np.ndarray:
    return np.array([flat % width, flat // width], dtype=float) * stride + (stride - 1) / 2.0


def view_errors(heatmaps: np.ndarray, stride: float, keypoints: np.ndarray, person_height: float) -> np.ndarray:
    """``(J, 2)`` rows of (side-blind error / person height, channel peak) for one view; NaN error where the view's
    keypoint is missing. ``heatmaps`` (J, h, w) on cells of ``stride`` working pixels, ``keypoints`` (J, 3) pixels.

    A midline joint's point is its channel's highest cell. A left/right pair gets two points from the maximum of its
    two channels (an either-side head may put both channels on one limb and leave the other to its second peak): the
    highest cell, and the highest one more than :data:`PAIR_SEPARATION_CELLS` cells from it; the two joints take the
    two points in the order that is closer in sum (side-blind), or, when one joint is missing, the nearer point."""
    from dataparsers.body25 import BODY25_MIRROR

    joints, height, width = heatmaps.shape
    error = np.full(joints, np.nan)
    present = keypoints[:, 2] > 0
    rows, cols = np.ogrid[:height, :width]
    for j, m in enumerate(BODY25_MIRROR):
        if m == j:
            if present[j]:
                point = _cell_centre(int(heatmaps[j].argmax()), width, stride)
                error[j] = np.linalg.norm(point - keypoints[j, :2])
            continue
        if m < j:
            continue
        merged = np.maximum(heatmaps[j], heatmaps[m])
        first = int(merged.argmax())
        far = (np.abs(rows - first // width) > PAIR_SEPARATION_CELLS) | (
            np.abs(cols - first % width) > PAIR_SEPARATION_CELLS
        )
        second = int(np.where(far, merged, -np.inf).argmax()) if far.any() else first
        points = [_cell_centre(first, width, stride), _cell_centre(second, width, stride)]
        dist = np.array([[np.linalg.norm(p - keypoints[k, :2]) for p in points] for k in (j, m)])  # joint x point
        if present[j] and present[m]:
            order = min(((0, 1), (1, 0)), key=lambda o: dist[0, o[0]] + dist[1, o[1]])
            error[j], error[m] = dist[0, order[0]], dist[1, order[1]]
        else:
            for row, k in enumerate((j, m)):
                if present[k]:
                    error[k] = dist[row].min()
    return np.stack([error / person_height, heatmaps.reshape(joints, -1).max(axis=1)], axis=1)


def summary_table(rows: np.ndarray, title: str) -> str:
    """Markdown table of :func:`view_errors` rows stacked as (views, J, 2)."""
    from dataparsers.body25 import BODY25_JOINTS

    lines = [title, "", "| joint | views | median error / height | within 0.1 | within 0.2 | mean peak |",
             "|---|---|---|---|---|---|"]  # fmt: skip

    def line(name: str, error: np.ndarray, peak: np.ndarray) -> str:
        seen = error[np.isfinite(error)]
        if not seen.size:
            return f"| {name} | 0 | - | - | - | {peak.mean():.2f} |"
        return (f"| {name} | {seen.size} | {np.median(seen):.3f} | {np.mean(seen < 0.1):.2f} | "
                f"{np.mean(seen < 0.2):.2f} | {peak.mean():.2f} |")  # fmt: skip

    for j, name in enumerate(BODY25_JOINTS):
        lines.append(line(name, rows[:, j, 0], rows[:, j, 1]))
    lines.append(line("**all**", rows[..., 0].ravel(), rows[..., 1].ravel()))
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_run_arguments(__doc__, argv)
    from nerfstudio.utils.eval_utils import eval_setup

    from ghnerf_ns.data.image_loading import load_view
    from ghnerf_ns.data.keypoint_source import read_keypoints
    from ghnerf_ns.data.person_scale import mask_box_height

    _, pipeline, _, step = eval_setup(args.config, test_mode="test", update_config_callback=config_update(args))
    model = pipeline.model
    bank = model.source_bank
    targets = pipeline.datamanager.eval_targets  # the eval split's subjects and frames, as ns-eval scores them
    frames = sorted({(targets.subjects[int(s)], int(f)) for s, f in zip(targets.subject_idx, targets.frame)})
    rows: List[np.ndarray] = []
    # With --pipeline.model.human-encoder.yolo-keypoint-maps: YOLO's own keypoints on the same views (what the maps the
    # head reads say), each COCO joint against its BODY_25 namesake.
    yolo = getattr(model.human_encoder, "keypoint_net", None) is not None
    yolo_rows: List[np.ndarray] = []
    for subject, frame in frames:
        pool = bank.pool(subject, frame)
        truth = {}
        for entry in pool:
            index, row = bank.index_of(entry)
            view = load_view(index, row, bank.resolution, keypoints=read_keypoints(index, row))
            person_height = mask_box_height(view.mask)
            if person_height is None:
                sys.exit(f"{index.mask_filenames[row]}: empty mask; errors are measured against the person's height")
            truth[bank.camera_of(entry)] = (view.keypoints, float(person_height))
        encoded = model.frame_view(subject, frame, 0).encoded
        maps = encoded.source_heatmaps.detach().cpu().numpy()
        stride = encoded.sources.images.shape[-1] / maps.shape[-1]
        found = model.human_encoder.person_keypoints(encoded.sources.images).cpu().numpy() if yolo else None
        for v, camera in enumerate(encoded.sources.camera_ids.tolist()):
            keypoints, height = truth[camera]
            rows.append(view_errors(maps[v], stride, keypoints, height))
            if found is not None:
                yolo_rows.append(side_blind_errors(found[v], np.asarray(keypoints)[COCO_TO_BODY25]) / height)
    names = ", ".join(sorted({subject for subject, _ in frames}))
    title = f"`{args.config}` step {step}: pose head on {len(rows)} input views of {names}"
    text = summary_table(np.stack(rows), title)
    if yolo_rows:
        errors = np.concatenate(yolo_rows)
        errors = errors[np.isfinite(errors)]
        text += (f"\n\nYOLO's own keypoints on the same views (the keypoint maps; {errors.size} COCO joints, "
                 f"side-blind): median error / height {np.median(errors):.3f}, within 0.1 {np.mean(errors < 0.1):.2f}, "
                 f"within 0.2 {np.mean(errors < 0.2):.2f}")  # fmt: skip
    print_and_write(text, args.out)


if __name__ == "__main__":
    main()
