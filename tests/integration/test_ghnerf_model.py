"""The nerfstudio-facing model: a training step learns, whole images render for dataset and viewer cameras."""

import copy
import json
from dataclasses import replace

import pytest
import torch
from nerfstudio.cameras.cameras import Cameras, CameraType

from ghnerf_ns.ghnerf_config import ghnerf_tiny_method


def test_training_steps_decrease_the_loss_on_a_fixed_batch(tiny_pipeline):
    pipe = tiny_pipeline
    pipe.train()
    _, batch = pipe.datamanager.next_train(0)
    params = [p for group in pipe.get_param_groups().values() for p in group]
    optimizer = torch.optim.Adam(params, lr=1e-3)

    def loss_value():
        outputs = pipe.model(batch.target, batch.sources, batch.pixels)
        return sum(pipe.model.get_loss_dict(outputs, batch).values())

    first = loss_value()
    optimizer.zero_grad()
    first.backward()
    optimizer.step()
    for _ in range(5):
        loss = loss_value()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss_value()) < float(first)


def test_batch_is_consistent(tiny_pipeline):
    _, batch = tiny_pipeline.datamanager.next_train(0)
    assert batch.sources.num_views in (2, 3)
    assert batch.pixels.shape == (128, 2) and batch.rgb.shape == (128, 3) and batch.heatmaps.shape == (128, 25)
    assert batch.target.height == 64 and batch.target.width == 64
    near, far = batch.target.near_far.tolist()
    assert 0.1 <= near < far
    # ENeRF samples 75% of the rays on the (dilated) mask.
    assert float(batch.mask.mean()) >= 0.7


def test_eval_camera_renders_every_output(tiny_pipeline):
    pipe = tiny_pipeline
    camera, batch = next(iter(pipe.datamanager.fixed_indices_eval_dataloader))
    outputs = pipe.model.get_outputs_for_camera(camera)
    expected = {"rgb": 3, "depth": 1, "accumulation": 1, "heatmap": 1, "heatmaps": 25, "heatmap_overlay": 3,
                "keypoints_overlay": 3, "cse": 16, "cse_rgb": 3}  # fmt: skip
    for name, channels in expected.items():
        assert outputs[name].shape == (64, 64, channels), name
        assert outputs[name].is_contiguous() and outputs[name].dtype == torch.float32
    metrics, images = pipe.model.get_image_metrics_and_images(outputs, batch)
    assert {"psnr", "ssim", "heatmap_mse", "pck", "cse_mse"} <= set(metrics)
    assert images["rgb"].shape == (64, 128, 3)


def test_viewer_camera_of_any_size_renders(tiny_pipeline):
    """A camera without dataset metadata (the viewer's) at a size that is not a multiple of 32."""
    pipe = tiny_pipeline
    dataset_camera = pipe.datamanager.eval_dataset.cameras[0:1]
    height, width = 50, 70
    camera = Cameras(
        camera_to_worlds=dataset_camera.camera_to_worlds,
        fx=torch.tensor([[60.0]]),
        fy=torch.tensor([[60.0]]),
        cx=torch.tensor([[width / 2]]),
        cy=torch.tensor([[height / 2]]),
        width=torch.tensor([[width]]),
        height=torch.tensor([[height]]),
        camera_type=CameraType.PERSPECTIVE,
    )
    outputs = pipe.model.get_outputs_for_camera(camera)
    assert outputs["rgb"].shape == (height, width, 3)
    assert outputs["heatmap"].shape == (height, width, 1)
    assert "cameras" in pipe.model.viewer_controls.g_sources.value


def test_viewer_camera_turned_away_from_the_person_gives_a_blank_frame(tiny_pipeline):
    """The viewer's render thread has no error handler: a camera with the whole box behind it gets black images of
    every output, not an exception (viser's default camera, or a user orbiting past the person)."""
    pipe = tiny_pipeline
    c2w = pipe.datamanager.eval_dataset.cameras[0:1].camera_to_worlds.clone()
    c2w[..., :3, 2] *= -1  # look the other way (OpenGL: the camera looks along -z)
    c2w[..., :3, 0] *= -1  # keep a right-handed frame
    camera = Cameras(
        camera_to_worlds=c2w, fx=torch.tensor([[40.0]]), fy=torch.tensor([[40.0]]), cx=torch.tensor([[20.0]]),
        cy=torch.tensor([[15.0]]), width=torch.tensor([[40]]), height=torch.tensor([[30]]),
        camera_type=CameraType.PERSPECTIVE,
    )  # fmt: skip
    outputs = pipe.model.get_outputs_for_camera(camera)
    expected = {"rgb", "depth", "accumulation", "heatmap", "heatmaps", "heatmap_overlay", "keypoints_overlay"}
    assert expected <= set(outputs)
    for name, value in outputs.items():
        assert value.shape[:2] == (30, 40) and value.shape[-1] in (1, 3), name
        assert float(value.abs().max()) == 0.0, name


def test_mask_loss_only_for_images_with_a_mask_file(tiny_pipeline):
    pipe = tiny_pipeline
    _, batch = pipe.datamanager.next_train(0)
    assert batch.has_mask  # the synthetic dataset has masks
    loss_config = pipe.model.config.loss
    saved = loss_config.mask_weight
    loss_config.mask_weight = 0.5
    try:
        outputs = pipe.model(batch.target, batch.sources, batch.pixels)
        losses = pipe.model.get_loss_dict(outputs, batch)
        fine = outputs["cascade"].fine.accumulation
        assert losses["mask_loss"] > 0 and losses["mask_loss"].requires_grad
        assert float(losses["mask_loss"]) >= 0.5 * float(((fine - batch.mask) ** 2).mean())  # includes the fine term
        assert "mask_loss" not in pipe.model.get_loss_dict(outputs, replace(batch, has_mask=False))
    finally:
        loss_config.mask_weight = saved


@pytest.fixture(scope="module")
def pose_pipeline(tiny_zju):
    """The tiny pipeline with the human encoder's heatmap head, 2D pose views and the volumetric heat loss."""
    torch.manual_seed(0)
    config = copy.deepcopy(ghnerf_tiny_method.config.pipeline)
    dm = config.datamanager
    dm.data, dm.resolution, dm.num_workers, dm.train_num_rays_per_batch = tiny_zju, 64, 0, 128
    dm.pose_views, dm.volume_heat_points = 3, 64
    dm.dataparser.train_subjects, dm.dataparser.test_subjects = ("313", "377"), ("386",)
    dm.dataparser.eval_frames = (0, 2, 1)
    config.model.human_encoder = replace(config.model.human_encoder, heatmap_head=True)
    config.model.loss.source_heatmap_weight = 10.0
    config.model.loss.volume_heat_weight = 1.0
    return config.setup(device="cpu", test_mode="val")


def test_pose_views_and_volume_points_train_the_encoder_head_and_the_heat_field(pose_pipeline):
    pipe = pose_pipeline
    pipe.train()
    _, batch = pipe.datamanager.next_train(0)
    assert batch.pose_views.num_views == 3 and batch.volume_points.shape == (64, 3)
    assert batch.frame_views.keypoints.shape[1:] == (25, 3)
    outputs = pipe.model(
        batch.target, batch.sources, batch.pixels, batch.pose_views, batch.pose_boxes, batch.volume_points
    )
    assert outputs["pose_heatmaps"].shape[:2] == (3, 25) and outputs["volume_heatmaps"].shape == (64, 25)
    losses = pipe.model.get_loss_dict(outputs, batch)
    head = list(pipe.model.human_encoder.heatmap_head.parameters())
    grads = torch.autograd.grad(losses["source_heatmap_loss"], head, retain_graph=True)
    assert all(g.abs().sum() > 0 for g in grads)
    g_h = list(pipe.model.network.fields[1].g_h.parameters())
    assert all(g.abs().sum() > 0 for g in torch.autograd.grad(losses["volume_heat_loss"], g_h))
    # Eval and the 3D query read the head's maps through the cached encoding.
    camera, _ = next(iter(pipe.datamanager.fixed_indices_eval_dataloader))
    assert pipe.model.get_outputs_for_camera(camera)["heatmaps"].shape == (64, 64, 25)


def test_eval_reports_the_source_view_estimate_as_the_models_3d_keypoints(tiny_pipeline):
    pipe = tiny_pipeline
    assert pipe.model.config.keypoints_3d == "source-views"  # the ghnerf-tiny preset
    metrics = pipe.get_average_eval_image_metrics()
    json.dumps(metrics, allow_nan=False)  # None (JSON null), never NaN
    for name in ("mpjpe_3d", "mpjpe_3d_volumetric", "mpjpe_3d_source_views", "mpjpe_3d_triangulated"):
        assert metrics[f"{name}_num_frames"] == 2, name
        # Each eval view has its own estimate (from its own source views); the rendered views' 2D keypoints are
        # triangulated once per frame.
        per = 2 if name == "mpjpe_3d_triangulated" else metrics["num_images"]
        assert metrics[f"{name}_num_joints"] + metrics[f"{name}_num_missing"] == 25 * per, name
    # mpjpe_3d is the estimate the config names, scored on the same frames.
    assert metrics["mpjpe_3d"] == metrics["mpjpe_3d_source_views"]
    assert metrics["mpjpe_3d_num_joints"] == metrics["mpjpe_3d_source_views_num_joints"]


def _tiny_preset_config(tiny_zju):
    """A copy of the ghnerf-tiny pipeline config on the tiny data (not set up), for tests of what setup refuses."""
    config = copy.deepcopy(ghnerf_tiny_method.config.pipeline)
    config.datamanager.data = tiny_zju
    config.datamanager.resolution = 64
    config.datamanager.num_workers = 0
    config.datamanager.dataparser.train_subjects = ("313", "377")
    config.datamanager.dataparser.test_subjects = ("386",)
    return config


def test_source_view_keypoints_need_the_pose_head(tiny_zju):
    config = _tiny_preset_config(tiny_zju)
    config.model.human_encoder = replace(config.model.human_encoder, heatmap_head=False)
    with pytest.raises(ValueError, match="heatmap-head True"):
        config.setup(device="cpu", test_mode="val")


def test_either_side_pose_head_loss_and_evidence(pose_pipeline, monkeypatch):
    """source-heatmap-pairs either-side: the pose head's loss takes each pair's cheaper labelling (never above the named
    loss on the same outputs), and g_h's evidence holds each pair's two channels merged (equal maps)."""
    from dataparsers.body25 import joint_index

    pipe = pose_pipeline
    pipe.train()
    _, batch = pipe.datamanager.next_train(0)
    args = (batch.target, batch.sources, batch.pixels, batch.pose_views, batch.pose_boxes, batch.volume_points)
    assert pipe.model.config.source_heatmap_pairs == "either-side"  # the ghnerf-tiny preset
    monkeypatch.setattr(pipe.model.config, "source_heatmap_pairs", "named")
    outputs = pipe.model(*args)
    named = float(pipe.model.get_loss_dict(outputs, batch)["source_heatmap_loss"])
    monkeypatch.setattr(pipe.model.config, "source_heatmap_pairs", "either-side")
    either = float(pipe.model.get_loss_dict(outputs, batch)["source_heatmap_loss"])
    assert 0 < either <= named
    encode, seen = pipe.model.network.encode, []

    def spy(sources, features=None, heatmaps=None, keypoints_3d=None):
        seen.append(heatmaps)
        return encode(sources, features, heatmaps, keypoints_3d)

    monkeypatch.setattr(pipe.model.network, "encode", spy)
    raw = pipe.model(*args)["source_heatmaps"]
    (maps,) = seen
    assert torch.equal(maps[:, joint_index("RHip")], maps[:, joint_index("LHip")])
    assert torch.equal(
        maps[:, joint_index("RHip")], torch.maximum(raw[:, joint_index("RHip")], raw[:, joint_index("LHip")])
    )
    assert torch.equal(maps[:, joint_index("Neck")], raw[:, joint_index("Neck")])


def test_either_side_pose_head_needs_the_body_frame(tiny_zju):
    config = _tiny_preset_config(tiny_zju)
    config.model.source_heatmap_pairs = "either-side"
    config.model.source_view_sides = "vote"
    with pytest.raises(ValueError, match="source-view-sides body-frame"):
        config.setup(device="cpu", test_mode="val")


def test_rendered_keypoints_take_their_sides_from_the_3d_keypoints(tiny_pipeline, monkeypatch):
    """keypoint-sides 3d-keypoints: on a side-blind render (each wrist channel lights both wrists, its own peak on the
    left one) the model's 2D keypoints put each wrist where the view's 3D keypoints project, and
    ns-eval scores them as pck beside the paper's per-channel rule (pck_channels)."""
    from dataparsers.body25 import joint_index
    from ghnerf_ns.model.geometry import cameras_to_opencv, project

    pipe = tiny_pipeline
    model = pipe.model
    monkeypatch.setattr(model.config, "keypoint_sides", "3d-keypoints")
    camera, batch = next(iter(pipe.datamanager.fixed_indices_eval_dataloader))
    index = pipe.datamanager.eval_targets
    row = int(batch["image_idx"])
    subject, frame = index.subjects[int(index.subject_idx[row])], int(index.frame[row])
    K, w2c = (m.reshape(m.shape[-2:]).float() for m in cameras_to_opencv(camera))
    joints = batch["joints3d"].float()  # the synthetic truth stands in for the view's 3D estimate
    view = model.prepare_view(camera)
    assert view.subject == subject and view.frame == frame
    monkeypatch.setattr(model.config, "keypoints_3d", "source-views")
    monkeypatch.setattr(view.encoded, "keypoints_3d", torch.cat([joints[:, :3], torch.ones(25, 1)], dim=-1))
    uv = project(joints[:, :3], K, w2c)[0]
    rows, cols = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")

    def blob(xy, peak):
        return peak * torch.exp(-((cols - xy[0]) ** 2 + (rows - xy[1]) ** 2) / (2 * 1.5**2))

    r_wrist, l_wrist = joint_index("RWrist"), joint_index("LWrist")
    heatmaps = torch.zeros(64, 64, 25)
    both = blob(uv[l_wrist], 0.8) + blob(uv[r_wrist], 0.7)
    heatmaps[..., r_wrist] = both
    heatmaps[..., l_wrist] = both
    keypoints, found = model.keypoints_2d(heatmaps, view)
    assert found[r_wrist] and found[l_wrist]
    assert (keypoints[r_wrist, :2] - uv[r_wrist]).norm() < 1.0 and (keypoints[l_wrist, :2] - uv[l_wrist]).norm() < 1.0
    monkeypatch.setattr(model.config, "keypoint_sides", "channels")
    channels, _ = model.keypoints_2d(heatmaps, view)
    assert (channels[r_wrist, :2] - uv[l_wrist]).norm() < 1.0  # the paper's rule: each channel's own peak
    monkeypatch.undo()
    outputs = model.get_outputs_for_camera(camera)
    assert outputs["keypoints_2d"].shape == (25, 4)  # dataset cameras carry the 2D keypoints for the metrics
    metrics, _ = model.get_image_metrics_and_images(outputs, batch)
    assert {"pck", "pck_channels", "pck_correct", "pck_channels_total"} <= set(metrics)


@pytest.mark.parametrize("use_box", [True, False])
def test_source_view_keypoints_are_bounded_by_the_person_box(tiny_pipeline, monkeypatch, use_box):
    """source-view-box: the source-view 3D keypoints of a render are triangulated within that render's person box
    (the target's), and without the option nothing bounds them; source-view-bone-bounds is passed on as set."""
    import ghnerf_ns.keypoints.source_view_keypoints as source_view_keypoints

    model = tiny_pipeline.model
    monkeypatch.setattr(model.config, "source_view_box", use_box)
    monkeypatch.setattr(model.config, "source_view_bone_bounds", not use_box)
    boxes, bones = [], []
    triangulate = source_view_keypoints.keypoints_3d_from_source_maps

    def spy(*args, **kwargs):
        boxes.append(args[8])
        bones.append(args[9])
        return triangulate(*args, **kwargs)

    monkeypatch.setattr(source_view_keypoints, "keypoints_3d_from_source_maps", spy)
    model._encode_cache.clear()  # encode the sources again rather than reuse an earlier test's encoding
    camera, _ = next(iter(tiny_pipeline.datamanager.fixed_indices_eval_dataloader))
    view = model.prepare_view(camera)
    assert len(boxes) == 1 and bones == [not use_box]
    if use_box:
        torch.testing.assert_close(boxes[0], view.target.box)
    else:
        assert boxes[0] is None
