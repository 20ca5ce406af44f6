"""Writes docs/synth_people.png: the same subject ids drawn with ``ghnerf-synth``'s two bodies, procedural (top row)
and Anny (bottom row), each from three cameras of a ZJU-like ring, with their ground-truth BODY_25 joints
(left joints green, right joints red, hidden joints not drawn).

    python scripts/synth_people_figure.py --out docs/synth_people.png
"""

import argparse
import time
from pathlib import Path

import numpy as np

from ghnerf_ns.synth.render import subject_rng
from ghnerf_ns.synth.rig import ZJU_WORLD_FROM_BODY, make_ring_rig
from ghnerf_ns.synth.scenes import make_scene

LEFT_GREEN, RIGHT_RED, CENTRE_YELLOW = (60, 220, 60), (235, 60, 60), (240, 220, 60)


def _draw_joints(image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    from dataparsers.body25 import BODY25_JOINTS

    out = image.copy()
    for name, (x, y, c) in zip(BODY25_JOINTS, keypoints):
        if c <= 0:
            continue
        colour = LEFT_GREEN if name.startswith("L") else RIGHT_RED if name.startswith("R") else CENTRE_YELLOW
        xi, yi = int(round(x)), int(round(y))
        out[max(0, yi - 1) : yi + 2, max(0, xi - 1) : xi + 2] = colour
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/synth_people.png"))
    parser.add_argument("--subjects", nargs="+", default=["386", "395", "397"])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--frame", type=int, default=3)
    args = parser.parse_args()
    from PIL import Image

    rows = []
    for body in ("procedural", "anny"):
        tiles = []
        for sid in args.subjects:
            start = time.perf_counter()
            floor = np.array([0.4, 0.3, 0.0])
            scene = make_scene(body, sid, 0, ZJU_WORLD_FROM_BODY, floor, 6890, 15.0)
            rig = make_ring_rig(
                subject_rng(0, "rig", sid), 8, args.resolution, scene.body_centre(), floor,
                up=np.array([0.0, 0.0, -1.0]), radius=2.2, height=1.6, distortion=True,
            )  # fmt: skip
            state = scene.frame(args.frame)
            for cam in (rig[0], rig[3], rig[5]):
                view = scene.render_view(state, cam, 16, 4)
                crop = slice(args.resolution // 8, args.resolution - args.resolution // 8)
                tiles.append(_draw_joints(view.rgb, view.keypoints)[:, crop])
            print(f"{body} {sid}: {time.perf_counter() - start:.2f} s (scene + 3 views at {args.resolution} px)")
        rows.append(np.concatenate(tiles, axis=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
