"""How near YOLO11n-pose's own keypoints (``--pipeline.model.human-encoder.yolo-keypoint-maps``) fall to the joints.

    python benchmarks/yolo_keypoints_2d.py --data data/anny_val --subjects 461 462 463 464 --crops 192 256 288 352

Reads a ``ghnerf-synth zju`` folder (images, masks and ``annots.npy``'s exact 2D keypoints), masks each view's person
onto black as the model's input views are, and runs the encoder's keypoint pass
(:meth:`~ghnerf_ns.model.yolo_pose_encoder.YoloPoseHumanEncoder.person_keypoints`) with each ``--crops`` side. Each of
YOLO's 17 COCO joints is compared with its BODY_25 namesake, either side of a left/right pair (the pose head that reads
the maps is side-blind), over the height of the view's mask. Prints per crop side the median error and the share within
0.05 and 0.1 of the height, and the milliseconds the keypoint pass takes per view (batches of 16). Needs ``make
yolo-encoder``. Choose the crop on validation people, never on test people.
"""

import argparse
import time
from pathlib import Path
from typing import List, Tuple

import numpy as np

from dataparsers.body25 import BODY25_MIRROR
from ghnerf_ns.model.yolo_pose_encoder import COCO_NAMES, COCO_TO_BODY25  # noqa: F401 (COCO_NAMES: for importers)

COCO_MIRROR = [COCO_TO_BODY25.index(BODY25_MIRROR[b]) for b in COCO_TO_BODY25]
"""Each COCO joint's left/right partner (itself for the nose), from BODY_25's."""


def side_blind_errors(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per COCO joint: distance from YOLO's point to the true joint or, for a left/right joint, to its mirror joint,
    whichever is nearer; NaN where the truth is missing. ``found`` (17, 3), ``truth`` (17, 3) in COCO order."""
    own = np.linalg.norm(found[:, :2] - truth[:, :2], axis=1)
    other = np.linalg.norm(found[:, :2] - truth[COCO_MIRROR, :2], axis=1)
    error = np.where(truth[COCO_MIRROR, 2] > 0, np.minimum(own, other), own)
    return np.where(truth[:, 2] > 0, error, np.nan)


def read_views(root: Path, subjects: List[str], frames: List[int]) -> List[Tuple[np.ndarray, np.ndarray, float]]:
    """(masked RGB in [0, 1], COCO-order keypoints, mask height) of the odd cameras' views (the eval cameras)."""
    import cv2

    from ghnerf_ns.data.person_scale import mask_box_height

    views = []
    for subject in subjects:
        folder = root / f"CoreView_{subject}"
        annots = np.load(folder / "annots.npy", allow_pickle=True).item()
        cameras = sorted((p.name for p in folder.glob("Camera_B*")), key=lambda n: int(n[len("Camera_B") :]))
        for frame in frames:
            for index, camera in enumerate(cameras):
                if index % 2 == 0:
                    continue
                image = cv2.imread(str(folder / camera / f"{frame:06d}.jpg"))[:, :, ::-1] / 255.0
                mask = cv2.imread(str(folder / "mask" / camera / f"{frame:06d}.png"), 0) > 0
                height = mask_box_height(mask)
                if height is None:
                    continue
                keypoints = np.asarray(annots["ims"][frame]["kpts2d"][index], dtype=float)[COCO_TO_BODY25]
                views.append(((image * mask[..., None]).astype(np.float32), keypoints, float(height)))
    return views


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a ghnerf-synth zju folder")
    parser.add_argument("--subjects", nargs="+", required=True, help="its (validation) people")
    parser.add_argument("--frames", nargs="+", type=int, default=[0, 2], help="frames of each person")
    parser.add_argument("--crops", nargs="+", type=int, default=[256], help="yolo-keypoint-crop sides to compare")
    args = parser.parse_args()

    import torch

    from ghnerf_ns.model.human_encoders import HumanEncoderConfig, build_human_encoder

    views = read_views(args.data, args.subjects, args.frames)
    print(f"{len(views)} views of {', '.join(args.subjects)}\n")
    threads = torch.get_num_threads()
    print(f"| crop side | joints | median error / height | within 0.05 | within 0.1 | ms per view, {threads} threads |")
    print("|---|---|---|---|---|---|")
    for side in args.crops:
        config = HumanEncoderConfig(name="yolo11n_pose", yolo_keypoint_maps=True, yolo_keypoint_crop=side)
        encoder = build_human_encoder(config).eval()
        errors, seconds = [], 0.0
        for start in range(0, len(views), 16):
            batch = views[start : start + 16]
            images = torch.from_numpy(np.stack([v[0] for v in batch])).permute(0, 3, 1, 2)
            began = time.perf_counter()
            found = encoder.person_keypoints(images).numpy()  # a new encoder: its per-image cache is empty
            seconds += time.perf_counter() - began
            errors.extend(side_blind_errors(f, v[1]) / v[2] for f, v in zip(found, batch))
        seen = np.concatenate(errors)
        seen = seen[np.isfinite(seen)]
        share = " | ".join(f"{np.mean(seen < limit):.2f}" for limit in (0.05, 0.1))
        print(f"| {side} | {seen.size} | {np.median(seen):.4f} | {share} | {1000 * seconds / len(views):.0f} |")


if __name__ == "__main__":
    main()
