"""``ghnerf-keypoints``: 2D and 3D keypoints of a trained GHNeRF run, as OpenPose JSON, 3D JSON and marker files.

    ghnerf-keypoints --load-config outputs/.../config.yml --output-dir keypoints \\
        --subjects CoreView_395 --frames 0 4 --frame-rate 15
    ghnerf-keypoints --load-config applied/config.yml --output-dir keypoints --orbit 8 --overlays

For each chosen subject/frame it renders the chosen cameras (the eval split's dataset cameras of that frame, with the
test protocol's source views, or ``--orbit N`` virtual cameras circling the human's box) and writes

* ``<output-dir>/<subject>/<camera>/<frame:06d>_keypoints.json`` (``camera`` is the dataset camera index or
  ``orbit_<i>``): OpenPose BODY_25 ``pose_keypoints_2d`` in pixels of the rendered (working-resolution, undistorted)
  image; missing joints are ``0, 0, 0``. They read back with ``dataparsers.openpose_json.read_openpose_json``;
* ``<output-dir>/<subject>/<frame:06d>_keypoints3d.json``: joint names and both 3D estimates (xyz in metres in the
  dataset's world frame, score, valid): ``volumetric`` (3D peaks of the volumetric heatmap, see
  :mod:`ghnerf_ns.keypoints.keypoints3d`), ``triangulated`` (DLT of the rendered views' 2D keypoints) with the cameras
  used, and, where the human encoder has the 2D pose head, ``source_views`` (the head on the input views,
  triangulated by consensus: :mod:`ghnerf_ns.keypoints.source_view_keypoints`); ``model_estimate`` names the one the
  model reports as its 3D keypoints (``--pipeline.model.keypoints-3d``). The 3D estimates of a frame use the
  ``--pipeline.model.num-source-views`` input cameras nearest to its first input camera (0: every input camera;
  ``ghnerf-apply --num-views`` sets it on a run);
* once all frames of a subject are done, that model estimate as one marker track per subject, for OpenSim,
  Pose2Sim, Blender and motion-capture tools: ``<output-dir>/<subject>/keypoints3d.trc`` (TRC text) and
  ``<output-dir>/<subject>/keypoints3d.c3d`` (C3D), the 25 BODY_25 joints as markers, metres in the dataset's
  world frame, time = dataset frame / ``--frame-rate``, joints not found in a frame left as gaps (see
  :mod:`ghnerf_ns.keypoints.marker_files` and docs/keypoint_export.md);
* with ``--overlays``: ``<subject>/<camera>/<frame:06d>_keypoints.png`` (skeleton drawn on the render).
"""

import itertools
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import tyro
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import Tensor

from dataparsers.body25 import BODY25_JOINTS
from dataparsers.openpose_json import write_openpose_json
from ghnerf_ns.keypoints.extractor import KeypointExtractorConfig
from ghnerf_ns.keypoints.keypoints3d import KeypointQueryError, no_keypoints, triangulated_keypoints
from ghnerf_ns.keypoints.source_view_keypoints import has_pose_head
from ghnerf_ns.model.network import PreparedView
from ghnerf_ns.runtime import setup_runtime

CONSOLE = Console()


class KeypointsCLIError(ValueError):
    """A user-facing error of ``ghnerf-keypoints`` (bad subject, frame or camera)."""


@dataclass
class KeypointsCLI:
    """Extract 2D (OpenPose JSON) and 3D keypoints from a trained GHNeRF run."""

    load_config: Path
    """The run's config.yml (as written by ns-train)."""
    output_dir: Path
    """Folder the JSON files, the TRC/C3D marker files (and overlays) are written to."""
    subjects: Optional[List[str]] = None
    """Subjects to process (names as in the dataset); default: every subject of the eval split."""
    frames: Optional[List[int]] = None
    """Frames to process; default: every eval frame of each subject."""
    cameras: Optional[List[int]] = None
    """Dataset camera indices to render (of the eval split); default: all of that subject/frame."""
    orbit: int = 0
    """Render this many virtual cameras on a circle around the human's box instead of dataset cameras (0 = off)."""
    overlays: bool = False
    """Also write the rendered keypoint overlay images."""
    frame_rate: float = 50.0
    """Capture rate of the dataset in frames per second, for the time axis of the TRC/C3D marker files (time =
    dataset frame / rate). The datasets do not record it: give your capture's rate (data made by ghnerf-synth: its
    --fps, 15 by default for the ZJU-MoCap and EasyMocap layouts, 5 for RenderPeople)."""
    keypoints: KeypointExtractorConfig = field(default_factory=KeypointExtractorConfig)
    """Peak extraction options (2D and 3D)."""

    def main(self) -> None:
        from nerfstudio.utils.eval_utils import eval_setup

        if not (math.isfinite(self.frame_rate) and self.frame_rate > 0):
            # Checked before loading the run: the marker files are written only after a subject's last frame.
            raise KeypointsCLIError(
                f"--frame-rate must be a positive number of frames per second, got {self.frame_rate}; give the "
                "capture rate of the dataset, e.g. --frame-rate 50"
            )
        _, pipeline, _, _ = eval_setup(self.load_config, test_mode="test")
        pipeline.eval()
        options = self.keypoints
        if options.density_weighting is None:
            options = replace(options, density_weighting=pipeline.model.config.volumetric_density_weighting)
        if options.side_assignment is None:
            options = replace(options, side_assignment=pipeline.model.config.volumetric_side_assignment)
        extractor = options.setup()
        jobs = self._jobs(pipeline)
        with Progress(
            TextColumn("[bold]keypoints[/bold] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        ) as bar:
            task = bar.add_task("", total=len(jobs))
            # _jobs lists each subject's frames together: a subject's marker files follow its last frame.
            for subject, subject_jobs in itertools.groupby(jobs, key=lambda job: job[0]):
                records = {}
                for _, frame, views in subject_jobs:
                    bar.update(task, description=f"{subject} frame {frame}")
                    records[frame] = self._process(pipeline, extractor, subject, frame, views)
                    bar.advance(task)
                self._write_marker_files(subject, records)
        CONSOLE.print(
            f"[green]Wrote keypoints of {len(jobs)} subject/frame(s) and each subject's keypoints3d.trc/.c3d to "
            f"{self.output_dir}"
        )

    # ---------------------------------------------------------------------------------------------- selection
    def _jobs(self, pipeline) -> List[Tuple[str, int, List[Tuple[str, object]]]]:
        """(subject, frame, [(view name, camera or (K, w2c))]) for every chosen subject/frame."""
        index = pipeline.datamanager.eval_targets
        cameras = pipeline.datamanager.eval_dataset.cameras
        table: Dict[str, Dict[int, Dict[int, int]]] = {}
        for row in range(len(index)):
            name = index.subjects[int(index.subject_idx[row])]
            table.setdefault(name, {}).setdefault(int(index.frame[row]), {})[int(index.camera[row])] = row
        subjects = self.subjects or sorted(table)
        unknown = [s for s in subjects if s not in table]
        if unknown:
            raise KeypointsCLIError(f"--subjects: unknown {unknown}; the eval split has {sorted(table)}")
        jobs = []
        for subject in subjects:
            frames = self.frames if self.frames is not None else sorted(table[subject])
            missing = [f for f in frames if f not in table[subject]]
            if missing:
                raise KeypointsCLIError(
                    f"--frames: {subject} has no eval frame {missing}; it has {sorted(table[subject])}"
                )
            for frame in frames:
                rows = table[subject][frame]
                if self.orbit > 0:
                    views = [(f"orbit_{i}", pose) for i, pose in enumerate(self._orbit(pipeline, subject, frame, rows))]
                else:
                    chosen = self.cameras if self.cameras is not None else sorted(rows)
                    bad = [c for c in chosen if c not in rows]
                    if bad:
                        raise KeypointsCLIError(
                            f"--cameras: {subject} frame {frame} has no eval camera {bad}; it has {sorted(rows)}"
                        )
                    views = [(str(c), cameras[rows[c] : rows[c] + 1]) for c in chosen]
                jobs.append((subject, frame, views))
        return jobs

    def _orbit(self, pipeline, subject: str, frame: int, rows: Dict[int, int]) -> List[Tuple[Tensor, Tensor, int, int]]:
        """``orbit`` cameras at the first eval camera's distance and height, looking at the box centre."""
        from ghnerf_ns.model.geometry import cameras_to_opencv

        first = pipeline.datamanager.eval_dataset.cameras[rows[min(rows)] : rows[min(rows)] + 1]
        K, w2c = cameras_to_opencv(first)
        K, w2c = K.reshape(3, 3).float(), w2c.reshape(4, 4).float()
        height, width = int(first.height.reshape(-1)[0]), int(first.width.reshape(-1)[0])
        box = torch.from_numpy(pipeline.model._bank.box(subject, frame)).float()
        centre = box.mean(dim=0)
        eye0 = -w2c[:3, :3].T @ w2c[:3, 3]
        down = w2c[1, :3]  # the camera's image-down axis in the world: the rig's "down"
        offset = eye0 - centre
        along = (offset @ down) * down
        radial = offset - along
        u = radial / radial.norm()
        v = torch.linalg.cross(down, u)
        poses = []
        for i in range(self.orbit):
            angle = 2.0 * math.pi * i / self.orbit
            eye = centre + along + radial.norm() * (math.cos(angle) * u + math.sin(angle) * v)
            z = (centre - eye) / (centre - eye).norm()
            x = torch.linalg.cross(down, z)
            x = x / x.norm()
            R = torch.stack([x, torch.linalg.cross(z, x), z])
            pose = torch.eye(4)
            pose[:3, :3], pose[:3, 3] = R, -R @ eye
            poses.append((K, pose, height, width))
        return poses

    # ---------------------------------------------------------------------------------------------- rendering
    def _render(self, pipeline, subject: str, frame: int, view: object) -> Tuple[Dict[str, Tensor], PreparedView]:
        """Rendered outputs and the prepared view (target camera and encoded sources) of a dataset camera or an orbit
        pose."""
        from ghnerf_ns.model.geometry import box_near_far
        from ghnerf_ns.model.views import TargetView
        from ghnerf_ns.render.image_renderer import render_image

        model = pipeline.model
        with torch.no_grad():
            if isinstance(view, tuple):
                K, w2c, height, width = view
                K, w2c = K.to(model.device), w2c.to(model.device)
                box = torch.from_numpy(model._bank.box(subject, frame)).to(model.device).float()
                target = TargetView(K=K, w2c=w2c, height=height, width=width, box=box, near_far=box_near_far(box, w2c))
                prepared = model.prepared(subject, frame, target)
            else:
                prepared = model.prepare_view(view.to(model.device))
            raw = render_image(model.network, prepared.encoded, prepared.target, model.config.eval_num_rays_per_chunk)
        return {"rgb": raw["rgb"].clamp(0, 1), "heatmaps": torch.nan_to_num(raw["heatmaps"].float())}, prepared

    def _process(
        self, pipeline, extractor, subject: str, frame: int, views: List[Tuple[str, object]]
    ) -> Dict[str, object]:
        """Render and write the 2D and 3D keypoint files of one subject/frame; returns the 3D JSON record."""
        from ghnerf_ns.keypoints.view_keypoints import view_estimates_3d
        from ghnerf_ns.viewer.visuals import draw_keypoints_overlay

        out_dir = self.output_dir / subject
        kps, Ks, w2cs, used = [], [], [], []
        for name, view in views:
            outputs, prepared = self._render(pipeline, subject, frame, view)
            keypoints, found = pipeline.model.keypoints_2d(outputs["heatmaps"], prepared, extractor)
            keypoints = torch.where(found[:, None], keypoints, torch.zeros_like(keypoints)).cpu()
            path = out_dir / name / f"{frame:06d}_keypoints.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_openpose_json(path, keypoints.numpy())
            if self.overlays:
                import cv2

                overlay = draw_keypoints_overlay(outputs["rgb"], keypoints.to(outputs["rgb"].device), 0.0, valid=found)
                image = (overlay.clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
                cv2.imwrite(str(path.with_name(f"{frame:06d}_keypoints.png")), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            kps.append(keypoints)
            Ks.append(prepared.target.K.cpu())
            w2cs.append(prepared.target.w2c.cpu())
            used.append(name)
        try:
            with torch.no_grad():
                estimates = view_estimates_3d(pipeline.model, pipeline.model.frame_view(subject, frame), extractor)
        except KeypointQueryError as err:
            # A frame whose input views cannot give 3D keypoints (e.g. one input camera left): all joints invalid.
            CONSOLE.print(f"[bold yellow]Warning: no 3D keypoints for {subject} frame {frame}: {err}")
            estimates = {kind: no_keypoints(len(BODY25_JOINTS)) for kind in ("volumetric", "source-views")}
            if not has_pose_head(pipeline.model):
                del estimates["source-views"]
        record = {
            "subject": subject,
            "frame": frame,
            "joint_names": list(BODY25_JOINTS),
            "units": "metres, dataset world frame",
            "model_estimate": pipeline.model.config.keypoints_3d.replace("-", "_"),
            **{kind.replace("-", "_"): _estimate_json(*estimate) for kind, estimate in estimates.items()},
            "triangulated": _estimate_json(*triangulated_keypoints(kps, Ks, w2cs)),
            "triangulated_from": used,
        }
        (out_dir / f"{frame:06d}_keypoints3d.json").write_text(json.dumps(record, indent=1))
        return record

    def _write_marker_files(self, subject: str, records: Dict[int, Dict[str, object]]) -> None:
        """The model estimate of a subject's processed frames as ``keypoints3d.trc`` and ``keypoints3d.c3d``, from
        the same (rounded) numbers as its 3D JSON files."""
        from ghnerf_ns.keypoints.marker_files import write_c3d, write_trc

        frames = sorted(records)
        estimates = [records[frame][records[frame]["model_estimate"]] for frame in frames]
        points = np.asarray([estimate["xyz"] for estimate in estimates], dtype=np.float64).reshape(len(frames), -1, 3)
        valid = np.asarray([estimate["valid"] for estimate in estimates], dtype=bool).reshape(len(frames), -1)
        numbers = np.asarray(frames, dtype=np.int64)
        out_dir = self.output_dir / subject
        write_trc(out_dir / "keypoints3d.trc", BODY25_JOINTS, numbers, points, valid, self.frame_rate)
        write_c3d(out_dir / "keypoints3d.c3d", BODY25_JOINTS, numbers, points, valid, self.frame_rate)


def _estimate_json(points: Tensor, valid: Tensor) -> Dict[str, list]:
    points, valid = points.detach().cpu(), valid.detach().cpu()
    return {
        "xyz": [[round(float(v), 6) for v in p[:3]] for p in points],
        "score": [round(float(p[3]), 6) for p in points],
        "valid": [bool(v) for v in valid],
    }


def entrypoint() -> None:
    """Console-script entry point."""
    tyro.extras.set_accent_color("bright_yellow")
    cli = tyro.cli(KeypointsCLI, prog="ghnerf-keypoints", description=__doc__)
    setup_runtime()
    try:
        cli.main()
    except KeypointsCLIError as err:
        CONSOLE.print(f"[bold red]ghnerf-keypoints: {err}", soft_wrap=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    entrypoint()
