"""``ghnerf-keypoints``: 2D and 3D keypoints of a trained GHNeRF run, written as OpenPose JSON and a 3D JSON.

For each chosen subject/frame it renders the chosen cameras (the eval split's dataset cameras of that frame, with the
test protocol's source views, or ``--orbit N`` virtual cameras circling the human's box) and writes

* ``<output-dir>/<subject>/<camera>/<frame:06d>_keypoints.json`` (``camera`` is the dataset camera index or
  ``orbit_<i>``): OpenPose BODY_25 ``pose_keypoints_2d`` in pixels of the rendered (working-resolution, undistorted)
  image; missing joints are ``0, 0, 0``. They read back with ``dataparsers.openpose_json.read_openpose_json``;
* ``<output-dir>/<subject>/<frame:06d>_keypoints3d.json``: joint names and both 3D estimates (xyz in metres in the
  dataset's world frame, score, valid): ``volumetric`` (3D peaks of the volumetric heatmap, see
  :mod:`ghnerf_ns.keypoints.keypoints3d`), ``triangulated`` (DLT of the rendered views' 2D keypoints) with the cameras
  used, and, where the human encoder has the 2D pose head, ``source_views`` (the head on every input camera,
  triangulated by consensus: :mod:`ghnerf_ns.keypoints.source_view_keypoints`); ``model_estimate`` names the one the
  model reports as its 3D keypoints (``--pipeline.model.keypoints-3d``);
* with ``--overlays``: ``<subject>/<camera>/<frame:06d>_keypoints.png`` (skeleton drawn on the render).
"""

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
from ghnerf_ns.keypoints.keypoints3d import (
    DEFAULT_REFERENCE_SIZE,
    KeypointQueryError,
    model_volumetric_keypoints,
    no_keypoints,
    triangulated_keypoints,
)
from ghnerf_ns.keypoints.source_view_keypoints import has_pose_head, model_source_view_keypoints
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
    """Folder the JSON files (and overlays) are written to."""
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
    reference_size: int = DEFAULT_REFERENCE_SIZE
    """Side of the reference image whose cost volumes the volumetric 3D query reads (multiple of 32)."""
    keypoints: KeypointExtractorConfig = field(default_factory=KeypointExtractorConfig)
    """Peak extraction options (2D and 3D)."""

    def main(self) -> None:
        from nerfstudio.utils.eval_utils import eval_setup

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
            for subject, frame, views in jobs:
                bar.update(task, description=f"{subject} frame {frame}")
                self._process(pipeline, extractor, subject, frame, views)
                bar.advance(task)
        CONSOLE.print(f"[green]Wrote keypoints of {len(jobs)} subject/frame(s) to {self.output_dir}")

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
    def _render(self, pipeline, subject: str, frame: int, view: object) -> Tuple[Dict[str, Tensor], Tensor, Tensor]:
        """Rendered outputs, K and w2c (OpenCV) of a dataset camera or an orbit pose."""
        from ghnerf_ns.model.geometry import box_near_far, cameras_to_opencv
        from ghnerf_ns.model.views import TargetView
        from ghnerf_ns.render.image_renderer import render_image

        model = pipeline.model
        if isinstance(view, tuple):
            K, w2c, height, width = view
            K, w2c = K.to(model.device), w2c.to(model.device)
            box = torch.from_numpy(model._bank.box(subject, frame)).to(model.device).float()
            target = TargetView(K=K, w2c=w2c, height=height, width=width, box=box, near_far=box_near_far(box, w2c))
            entries = model._bank.select(
                subject, frame, w2c.cpu().numpy(), model.config.num_source_views, use_rotation=False
            )
            sources = model._bank.load(entries).to(model.device)
            with torch.no_grad():
                raw = render_image(
                    model.network, model.encode_sources(sources, box), target, model.config.eval_num_rays_per_chunk
                )
            return {"rgb": raw["rgb"].clamp(0, 1), "heatmaps": raw["heatmaps"]}, K, w2c
        with torch.no_grad():
            outputs = model.get_outputs_for_camera(camera=view.to(model.device))
        K, w2c = cameras_to_opencv(view)
        return outputs, K.reshape(3, 3).float(), w2c.reshape(4, 4).float()

    def _process(self, pipeline, extractor, subject: str, frame: int, views: List[Tuple[str, object]]) -> None:
        from ghnerf_ns.viewer.visuals import draw_keypoints_overlay

        out_dir = self.output_dir / subject
        kps, Ks, w2cs, used = [], [], [], []
        for name, view in views:
            outputs, K, w2c = self._render(pipeline, subject, frame, view)
            keypoints, found = pipeline.model.keypoints_2d(outputs["heatmaps"], subject, frame, K, w2c, extractor)
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
            Ks.append(K.cpu())
            w2cs.append(w2c.cpu())
            used.append(name)
        try:
            with torch.no_grad():
                volumetric = model_volumetric_keypoints(pipeline.model, subject, frame, extractor, self.reference_size)
        except KeypointQueryError as err:
            # A frame the 3D query cannot use (e.g. one input camera left): its volumetric joints are all invalid.
            CONSOLE.print(f"[bold yellow]Warning: no volumetric 3D keypoints for {subject} frame {frame}: {err}")
            volumetric = no_keypoints(len(BODY25_JOINTS))
        triangulated = triangulated_keypoints(kps, Ks, w2cs)
        record = {
            "subject": subject,
            "frame": frame,
            "joint_names": list(BODY25_JOINTS),
            "units": "metres, dataset world frame",
            "model_estimate": pipeline.model.config.keypoints_3d.replace("-", "_"),
            "volumetric": _estimate_json(*volumetric),
            "triangulated": _estimate_json(*triangulated),
            "triangulated_from": used,
        }
        if has_pose_head(pipeline.model):
            record["source_views"] = _estimate_json(*self._source_views(pipeline, subject, frame))
        (out_dir / f"{frame:06d}_keypoints3d.json").write_text(json.dumps(record, indent=1))

    @staticmethod
    def _source_views(pipeline, subject: str, frame: int) -> Tuple[Tensor, Tensor]:
        """The pose head's 3D estimate (:mod:`ghnerf_ns.keypoints.source_view_keypoints`), all invalid where the
        frame has fewer than 2 input cameras."""
        try:
            return model_source_view_keypoints(pipeline.model, subject, frame)
        except KeypointQueryError as err:
            CONSOLE.print(f"[bold yellow]Warning: no source-view 3D keypoints for {subject} frame {frame}: {err}")
            return no_keypoints(len(BODY25_JOINTS))


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
