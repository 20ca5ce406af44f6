"""The nerfstudio-facing model: a training step learns, whole images render for dataset and viewer cameras."""

from dataclasses import replace

import torch
from nerfstudio.cameras.cameras import Cameras, CameraType


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
