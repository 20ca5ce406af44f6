"""A real rig in-process: cameras of three image sizes (square, x2, portrait crops) and a frame that lost input views.
Training batches, eval (with 3D keypoints), viewer renders and the volumetric 3D query all condition on source views
of different working sizes; a frame with one input camera left is rendered and counted, never a crash."""

import copy
import json

import numpy as np
import pytest
import torch
from nerfstudio.cameras.cameras import Cameras, CameraType

from ghnerf_ns.ghnerf_config import ghnerf_tiny_method
from ghnerf_ns.keypoints.extractor import KeypointExtractorConfig
from ghnerf_ns.keypoints.view_keypoints import view_keypoints_3d
from ghnerf_ns.synth import ZJUSynthConfig, write_zju
from tests.capture_edits import drop_view, make_real_rig

PORTRAIT, SCALED = (2, 3), (4,)
"""6-camera ring; inputs are the even cameras: 0 (64x64), 2 (portrait, working 32x64), 4 (x2, working 64x64)."""


@pytest.fixture(scope="module")
def rig_pipeline(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("real_rig") / "zju"
    write_zju(ZJUSynthConfig(out=root, subjects=("377", "386"), frames=2, cameras=6, resolution=64, seed=5,
                             progress=False))  # fmt: skip
    for subject in ("CoreView_377", "CoreView_386"):
        make_real_rig(root / subject, portrait_cameras=PORTRAIT, scaled_cameras=SCALED)
    drop_view(root / "CoreView_386", camera=2, frame=1)  # frame 1 of the test subject keeps inputs 0 and 4
    drop_view(root / "CoreView_386", camera=4, frame=1)  # ... and then only input 0
    torch.manual_seed(0)
    config = copy.deepcopy(ghnerf_tiny_method.config.pipeline)  # never mutate the registered preset
    dm = config.datamanager
    dm.data = root
    dm.resolution = 64
    dm.num_workers = 0
    dm.train_num_rays_per_batch = 128
    dm.dataparser.train_subjects = ("377",)
    dm.dataparser.test_subjects = ("386",)
    dm.dataparser.eval_frames = (0, 2, 1)
    return config.setup(device="cpu", test_mode="val")


def test_training_batches_mix_source_sizes_and_learn(rig_pipeline):
    pipe = rig_pipeline
    pipe.train()
    for step in range(20):
        _, batch = pipe.datamanager.next_train(step)
        if 2 in batch.sources.camera_ids.tolist() and batch.sources.num_views > 1:
            break  # the portrait input camera next to a square one
    else:
        pytest.fail("no training batch with the portrait camera among several sources")
    assert batch.sources.hw == (64, 64)
    portrait = batch.sources.camera_ids.tolist().index(2)
    assert float(batch.sources.images[portrait, :, :, 32:].abs().max()) == 0.0  # padding, K unchanged
    outputs = pipe.model(batch.target, batch.sources, batch.pixels)
    loss = sum(pipe.model.get_loss_dict(outputs, batch).values())
    assert torch.isfinite(loss)
    loss.backward()


def test_eval_renders_every_size_and_reports_json_safe_metrics(rig_pipeline):
    pipe = rig_pipeline
    sizes = {(int(c.height), int(c.width)) for c in pipe.datamanager.eval_dataset.cameras}
    assert sizes == {(64, 64), (64, 32)}  # test cameras 1 (square), 3 (portrait crop), 5 (square)
    metrics = pipe.get_average_eval_image_metrics()
    json.dumps(metrics, allow_nan=False)  # None (JSON null), never NaN
    assert metrics["num_images"] == 6 and np.isfinite(metrics["psnr"])
    # Frame 1 has one input camera: no 3D estimate for its views, their joints counted as missing in a counted frame.
    assert metrics["mpjpe_3d_num_frames"] == 2 and metrics["mpjpe_3d_num_missing"] >= 25


def test_viewer_camera_and_volumetric_query_use_mixed_sources(rig_pipeline):
    pipe = rig_pipeline
    model = pipe.model
    portrait = next(i for i, c in enumerate(pipe.datamanager.eval_dataset.cameras) if int(c.width) == 32)
    dataset_camera = pipe.datamanager.eval_dataset.cameras[portrait : portrait + 1]
    camera = Cameras(
        camera_to_worlds=dataset_camera.camera_to_worlds, fx=dataset_camera.fx, fy=dataset_camera.fy,
        cx=dataset_camera.cx, cy=dataset_camera.cy, width=dataset_camera.width, height=dataset_camera.height,
        camera_type=CameraType.PERSPECTIVE,
    )  # fmt: skip
    outputs = model.get_outputs_for_camera(camera)  # no metadata: the viewer's path
    assert outputs["rgb"].shape == (64, 32, 3)
    # The test subject first; sources (the preset's three): the square camera 0, the portrait input camera 2 and the
    # x2 camera 4.
    label, cameras = model.viewer_controls.g_sources.value.split(": cameras ")
    assert label == "CoreView_386 frame 0" and sorted(cameras.split(", ")) == ["0", "2", "4"]
    view = model.frame_view("CoreView_386", 0)
    points, valid = view_keypoints_3d(model, view, "volumetric", KeypointExtractorConfig().setup())
    assert points.shape == (25, 4) and valid.shape == (25,) and torch.isfinite(points).all()
