"""Dataparser scale: parse time and peak memory of a metadata-only ZJU-MoCap-scale index.

Writes (once; reused through ``--cache-dir``) a tree in the exact ZJU-MoCap layout, 9 subjects x 2000 frames x 23
cameras: a real ``annots.npy`` per subject (cameras, image paths, BODY_25 kpts2d) and zero-byte image and mask files
(but a real JPEG header for each camera's first image, which the parser probes for the image size)
plus small SMPL vertex files (the parser only lists files at parse time; nothing is decoded). Then parses the training
split (all subjects' input cameras and every frame) in a fresh subprocess and reports its wall time and peak RSS
against the targets (< 10 s, < 1 GB).

Training loader against model step (``--part loader``): sets up ``ns-train ghnerf-tiny``'s pipeline on a small
``ghnerf-synth`` dataset (4 subjects x 4 frames x 12 cameras, the demo's) and measures, in one process:

* loader: training samples/s drawn from ``GHNeRFDataManager.next_train`` alone (its worker processes decode images,
  build sources, rays and ground-truth heatmaps/CSE), target at least 3x the model's steps/s;
* model step: forward, losses, backward and optimiser step on an already-loaded batch (steps/s);
* training step: the same with the loader feeding it, as ``ns-train`` runs (the workers share the cores).

Usage: ``python benchmarks/data_speed.py [--part parse|loader|both] [--cache-dir DIR] [--subjects 9] [--frames 2000]
[--cameras 23] [--loader-steps 30]``
"""

import argparse
import io
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Dict

import numpy as np

SUBJECTS = ("313", "315", "377", "386", "387", "390", "392", "393", "394")
PARSE_TARGET_S = 10.0
PARSE_TARGET_MB = 1024.0


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def write_tree(root: Path, num_subjects: int, num_frames: int, num_cameras: int) -> None:
    """The ZJU-MoCap layout with empty images/masks; skipped when a complete tree is already there."""
    marker = root / f".complete_{num_subjects}_{num_frames}_{num_cameras}"
    if marker.exists():
        return
    from PIL import Image

    header = io.BytesIO()  # the parser reads each camera's first image header for its size: one real 1024 px JPEG
    Image.new("RGB", (1024, 1024)).save(header, format="JPEG")
    vertices = _npy_bytes(np.random.default_rng(0).uniform(-0.5, 0.5, (64, 3)).astype(np.float32))
    K = np.array([[1100.0, 0, 512], [0, 1100.0, 512], [0, 0, 1]])
    for s in range(num_subjects):
        subject = root / f"CoreView_{SUBJECTS[s % len(SUBJECTS)]}{'' if s < len(SUBJECTS) else f'_{s}'}"
        cams = {"K": [], "R": [], "T": [], "D": []}
        for c in range(num_cameras):
            angle = 2 * np.pi * c / num_cameras
            R = np.array([[np.cos(angle), 0, -np.sin(angle)], [0, 1, 0], [np.sin(angle), 0, np.cos(angle)]])
            cams["K"].append(K)
            cams["R"].append(R)
            cams["T"].append(np.array([[0.0], [0.0], [3000.0]]))  # millimetres, as ZJU's annots.npy
            cams["D"].append(np.zeros((5, 1)))
        folders = [f"Camera_B{c + 1}" for c in range(num_cameras)]
        kpts = np.zeros((num_cameras, 25, 3))
        ims = [{"ims": [f"{d}/{f:06d}.jpg" for d in folders], "kpts2d": kpts} for f in range(num_frames)]
        subject.mkdir(parents=True, exist_ok=True)
        np.save(subject / "annots.npy", {"cams": cams, "ims": ims}, allow_pickle=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        for top, ext in (("", ".jpg"), ("mask/", ".png")):
            for d in folders:
                folder = subject / top / d
                folder.mkdir(parents=True, exist_ok=True)
                prefix = str(folder) + os.sep
                for f in range(num_frames):
                    os.close(os.open(f"{prefix}{f:06d}{ext}", flags, 0o644))
                if ext == ".jpg":
                    (folder / "000000.jpg").write_bytes(header.getvalue())
        (subject / "vertices").mkdir(exist_ok=True)
        for f in range(num_frames):
            (subject / "vertices" / f"{f}.npy").write_bytes(vertices)
        print(f"  wrote {subject.name}", flush=True)
    marker.touch()


PARSE_SCRIPT = textwrap.dedent(
    """
    import resource, sys, time
    from pathlib import Path
    start = time.perf_counter()
    from dataparsers.zju_mocap_dataparser import ZJUMocapDataParserConfig
    imported = time.perf_counter()
    root = Path(sys.argv[1])
    subjects = sorted(p.name for p in root.iterdir() if p.name.startswith("CoreView"))
    config = ZJUMocapDataParserConfig(
        data=root, train_subjects=tuple(subjects[:-1]), test_subjects=(subjects[-1],),
        train_frames=(0, -1, 1), eval_frames=(0, -1, 1),
    )
    outputs = config.setup().get_dataparser_outputs(split="train")
    done = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(len(outputs.image_filenames), done - imported, imported - start, peak_mb)
    """
)


def parse_in_subprocess(root: Path) -> tuple:
    """(images, parse seconds, import seconds, peak RSS MB) of a fresh interpreter parsing the tree."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", PARSE_SCRIPT, str(root)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"parsing failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    images, parse_s, import_s, peak_mb = proc.stdout.strip().splitlines()[-1].split()
    return int(images), float(parse_s), float(import_s), float(peak_mb), wall


LOADER_TARGET_RATIO = 3.0


def loader_vs_model(data_root: Path, steps: int) -> Dict[str, float]:
    """Samples/s of the ghnerf-tiny training loader, and model / training steps/s, measured in this process."""
    import torch
    from nerfstudio.engine.optimizers import Optimizers

    from ghnerf_ns.ghnerf_config import ghnerf_tiny_method

    if not (data_root / "GHNERF_SYNTH.txt").is_file():
        subprocess.run(
            [str(Path(sys.executable).parent / "ghnerf-synth"), "zju", "--out", str(data_root), "--subjects", "313",
             "377", "390", "386", "--frames", "4", "--cameras", "12", "--resolution", "128", "--no-progress"],
            check=True,
        )  # fmt: skip
    config = ghnerf_tiny_method.config
    config.pipeline.datamanager.data = data_root
    parser = config.pipeline.datamanager.dataparser
    parser.train_subjects, parser.test_subjects = ("313", "377", "390"), ("386",)
    parser.eval_frames = (0, 4, 2)
    pipeline = config.pipeline.setup(device="cpu", test_mode="val", world_size=1, local_rank=0)
    optimizers = Optimizers(config.optimizers, pipeline.get_param_groups())
    datamanager = pipeline.datamanager

    def train_step(step: int) -> None:
        _, losses, _ = pipeline.get_train_loss_dict(step)
        optimizers.zero_grad_all()
        sum(losses.values()).backward()
        optimizers.optimizer_step_all()

    def rate(fn, count: int) -> float:
        start = time.perf_counter()
        for step in range(count):
            fn(step)
        return count / (time.perf_counter() - start)

    pipeline.train()
    for step in range(3):  # warm-up: worker start, first decodes, allocator
        train_step(step)
    drawn = []
    loader = rate(lambda step: drawn.append(datamanager.next_train(step)), steps * 3)
    real_next = datamanager.next_train
    datamanager.next_train = lambda step: drawn[step]  # type: ignore[method-assign]  # already-loaded batches
    model = rate(train_step, steps)
    datamanager.next_train = real_next  # type: ignore[method-assign]
    training = rate(train_step, steps)
    return {"loader": loader, "model": model, "training": training, "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", type=Path, default=None, help="keep the generated tree here (reused next run)")
    parser.add_argument("--subjects", type=int, default=9)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--cameras", type=int, default=23)
    parser.add_argument("--part", choices=("parse", "loader", "both"), default="both")
    parser.add_argument("--loader-steps", type=int, default=30, help="model steps timed (the loader draws 3x as many)")
    args = parser.parse_args()
    if args.part in ("parse", "both"):
        parse_table(args)
    if args.part in ("loader", "both"):
        loader_table(args)


def loader_table(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = (args.cache_dir or Path(tmp)) / "loader_zju"
        speeds = loader_vs_model(root, args.loader_steps)
    load = os.getloadavg()[0]
    ratio = speeds["loader"] / speeds["model"]
    verdict = "ok" if ratio >= LOADER_TARGET_RATIO else "below"
    print(
        f"\n## Training loader vs model step (ghnerf-tiny, CPU, {speeds['threads']} torch threads, "
        f"load {load:.2f})\n"
    )
    print("| loader samples/s | model steps/s (loaded batch) | loader / model | training steps/s (loader feeding) |")
    print("|---|---|---|---|")
    print(
        f"| {speeds['loader']:.2f} | {speeds['model']:.2f} | {ratio:.1f}x ({verdict} >= {LOADER_TARGET_RATIO:.0f}x) | "
        f"{speeds['training']:.2f} |"
    )


def parse_table(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = (args.cache_dir or Path(tmp)) / "zju_scale"
        start = time.perf_counter()
        write_tree(root, args.subjects, args.frames, args.cameras)
        print(f"tree ready in {time.perf_counter() - start:.1f} s: {root}", flush=True)
        images, parse_s, import_s, peak_mb, wall = parse_in_subprocess(root)
    load = os.getloadavg()[0]
    ok = lambda value, target: "ok" if value < target else "above"  # noqa: E731
    print(f"\n## Dataparser (zju-mocap-data), {args.subjects} x {args.frames} x {args.cameras}, load {load:.2f}\n")
    print("| images in train split | parse s | imports s | process wall s | peak RSS MB |")
    print("|---|---|---|---|---|")
    print(
        f"| {images} | {parse_s:.2f} ({ok(parse_s, PARSE_TARGET_S)} < {PARSE_TARGET_S:.0f}) | {import_s:.2f} | "
        f"{wall:.2f} | {peak_mb:.0f} ({ok(peak_mb, PARSE_TARGET_MB)} < {PARSE_TARGET_MB:.0f}) |"
    )


if __name__ == "__main__":
    main()
