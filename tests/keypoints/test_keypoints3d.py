"""3D queries of the GHNeRF field (ghnerf_ns.keypoints.keypoints3d): parity with the renderer, shapes, chunk invariance,
the reference camera that contains the box, and recovery of planted 3D peaks."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import ghnerf_ns.keypoints.keypoints3d as module
from dataparsers.human_common import HumanImageIndex
from ghnerf_ns.keypoints.extractor import KeypointExtractorConfig
from ghnerf_ns.keypoints.keypoints3d import (
    FrameViews,
    annotated_joints3d,
    frame_mpjpe_metrics,
    query_points,
    reference_target,
    triangulated_keypoints,
)
from ghnerf_ns.keypoints.peaks3d import query_volumetric_heatmap
from ghnerf_ns.model import projection
from ghnerf_ns.model.geometry import box_corners, pixel_directions, project
from ghnerf_ns.model.network import CascadeLevelConfig, GHNeRFNetworkConfig
from ghnerf_ns.model.views import SourceViews
from ghnerf_ns.pipeline import GHNeRFPipeline, aggregate_image_metrics

SIZE = 32


def _look_at(eye, target=(0.0, 0.0, 0.0)):
    eye, target = torch.tensor(eye, dtype=torch.float32), torch.tensor(target, dtype=torch.float32)
    z = (target - eye) / (target - eye).norm()
    x = torch.linalg.cross(torch.tensor([0.0, 1.0, 0.0]), z)
    x = x / x.norm()
    R = torch.stack([x, torch.linalg.cross(z, x), z])
    w2c = torch.eye(4)
    w2c[:3, :3], w2c[:3, 3] = R, -R @ eye
    return w2c


def _scene(human_channels=0):
    """A tiny random network, two random source images around a 1 m box at the origin, encoded."""
    torch.manual_seed(0)
    net = (
        GHNeRFNetworkConfig(coarse=CascadeLevelConfig(num_planes=8), human_feature_channels=human_channels)
        .setup()
        .eval()
    )
    K = torch.tensor([[40.0, 0.0, 15.5], [0.0, 40.0, 15.5], [0.0, 0.0, 1.0]])
    w2c = torch.stack([_look_at((3.0 * math.sin(a), 0.1, -3.0 * math.cos(a))) for a in (-0.3, 0.3)])
    sources = SourceViews(
        images=torch.rand(2, 3, SIZE, SIZE), K=K.expand(2, 3, 3).clone(), w2c=w2c, camera_ids=torch.arange(2)
    )
    human = torch.randn(2, human_channels, 8, 8) if human_channels else None
    encoded = net.encode(sources, human)
    box = torch.tensor([[-0.5, -0.5, -0.3], [0.5, 0.5, 0.3]])
    target = reference_target(box, _look_at((0.4, 0.2, -3.0)), size=SIZE)
    return net, encoded, target


@pytest.mark.parametrize("human_channels", [0, 6])
def test_query_matches_the_renderers_samples(human_channels):
    """Querying the exact world positions the renderer sampled gives the renderer's per-sample density and heat."""
    net, encoded, target = _scene(human_channels)
    captured = {}
    net.fields[1].register_forward_hook(lambda m, i, o: captured.update(out=o))
    pixels = torch.tensor([[3.0, 4.0], [15.0, 16.0], [20.0, 9.0], [28.0, 27.0]])
    with torch.no_grad():
        volumes = net.build_volumes(encoded, target)
        fine = net.render_rays(encoded, volumes, target, pixels).fine
        origins, dirs = pixel_directions(pixels, target.K, target.w2c)
        xyz = origins[:, None] + dirs[:, None] * fine.z_samples[..., None]
        density, heat, inside = query_points(net, encoded, volumes, target, xyz.reshape(-1, 3))
    ref = captured["out"]
    assert inside.all()  # the renderer's own samples lie inside the fine volume
    torch.testing.assert_close(density, ref.density.reshape(-1), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(heat, ref.heatmaps.reshape(-1, 25), atol=1e-4, rtol=1e-4)


def test_shapes_and_chunk_invariance():
    net, encoded, target = _scene()
    with torch.no_grad():
        volumes = net.build_volumes(encoded, target)
        points = torch.rand(37, 3) - 0.5
        density, heat, inside = query_points(net, encoded, volumes, target, points)
    assert density.shape == (37,) and heat.shape == (37, 25) and inside.shape == (37,)
    assert (density >= 0).all() and ((heat > 0) & (heat < 1)).all()

    def query(p):
        return query_points(net, encoded, volumes, target, p)[:2]

    whole = query_volumetric_heatmap(query, target.box, resolution=6, chunk=10_000)
    chunked = query_volumetric_heatmap(query, target.box, resolution=6, chunk=7)
    assert whole.shape == (6, 6, 6, 25)
    torch.testing.assert_close(whole, chunked, atol=1e-6, rtol=1e-6)


def test_points_outside_the_fine_band_read_zero_voxel_features():
    """A point far behind the fine volume's last plane gets the zero padding (documented behaviour)."""
    net, encoded, target = _scene()
    seen = {}
    original = projection.sample_voxel_features

    def spy(volume, coords):
        out = original(volume, coords)
        seen["coords"], seen["out"] = coords, out
        return out

    module_original = module.sample_voxel_features
    module.sample_voxel_features = spy
    try:
        with torch.no_grad():
            volumes = net.build_volumes(encoded, target)
            far = float(volumes.fine.depth_values.max())
            centre = torch.linalg.inv(target.w2c)[:3, 3]
            axis = target.w2c[2, :3]
            _, _, inside = query_points(net, encoded, volumes, target, (centre + axis * (far + 5.0))[None])
    finally:
        module.sample_voxel_features = module_original
    assert not bool(inside[0])
    assert float(seen["coords"][0, 2]) > 1.0
    assert torch.equal(seen["out"], torch.zeros_like(seen["out"]))


def test_reference_target_contains_the_box():
    box = torch.tensor([[-0.4, -0.9, -0.2], [0.5, 0.8, 0.3]])
    w2c = _look_at((2.0, 0.3, -2.5), target=(0.6, 0.0, 0.0))  # not aimed at the box centre
    target = reference_target(box, w2c, size=64, margin=0.1)
    uv, z = project(box_corners(box), target.K, target.w2c)
    assert (z > 0).all()
    assert (uv >= 63 * 0.1 - 1e-3).all() and (uv <= 63 * 0.9 + 1e-3).all()
    # The longer projected extent fills exactly the usable part of the image.
    extent = (uv.max(0).values - uv.min(0).values).max()
    assert abs(float(extent) - 63 * 0.8) < 1e-3
    with pytest.raises(ValueError, match="behind the reference camera"):
        reference_target(box, _look_at((0.0, 0.0, 0.0), target=(0.0, 0.0, 1.0)), size=64)
    with pytest.raises(ValueError, match="multiple of 32"):
        reference_target(box, w2c, size=50)


def test_planted_peaks_are_recovered(monkeypatch):
    """With the field replaced by Gaussians at known 3D points, the volumetric estimate finds those points."""
    net, encoded, target = _scene()
    torch.manual_seed(1)
    lo, hi = target.box
    planted = lo + 0.15 * (hi - lo) + 0.7 * (hi - lo) * torch.rand(25, 3)
    missing = 7  # one joint has no heat anywhere

    def fake_query(network, enc, volumes, tgt, points):
        d2 = ((points[:, None, :] - planted[None]) ** 2).sum(-1)
        heat = torch.exp(-d2 / (2 * 0.04**2))
        heat[:, missing] = 0.0
        return torch.full((points.shape[0],), 50.0), heat, torch.ones(points.shape[0], dtype=torch.bool)

    monkeypatch.setattr(module, "query_points", fake_query)
    extractor = KeypointExtractorConfig(
        volume_resolution=41, volume_chunk=5000, filter_sigma_3d_m=0.0, subpixel=True
    ).setup()
    keypoints, valid = module.volumetric_keypoints(net, [(encoded, target)], extractor)
    assert keypoints.shape == (25, 4)
    expected_valid = torch.ones(25, dtype=torch.bool)
    expected_valid[missing] = False
    assert torch.equal(valid, expected_valid)
    spacing = float(((hi - lo) / 40).max())
    err = (keypoints[valid, :3] - planted[valid]).norm(dim=-1)
    assert float(err.max()) < 0.5 * spacing, err


def test_triangulated_keypoints_from_projections():
    torch.manual_seed(2)
    joints = torch.rand(25, 3) - 0.5
    K = torch.tensor([[60.0, 0.0, 31.5], [0.0, 60.0, 31.5], [0.0, 0.0, 1.0]])
    w2cs = [_look_at((3.0 * math.sin(a), 0.2, -3.0 * math.cos(a))) for a in (-0.8, 0.0, 0.9)]
    kps = []
    for w2c in w2cs:
        uv, _ = project(joints, K, w2c)
        kps.append(torch.cat([uv, torch.full((25, 1), 0.9)], dim=-1))
    kps[0][3, 2] = 0.0
    kps[1][3, 2] = 0.0  # joint 3 is seen by one view only
    points, valid = triangulated_keypoints(kps, [K] * 3, w2cs)
    assert not valid[3] and valid.sum() == 24
    torch.testing.assert_close(points[valid, :3], joints[valid], atol=1e-4, rtol=0)
    one_points, one_valid = triangulated_keypoints(kps[:1], [K], w2cs[:1])
    assert not one_valid.any() and one_points.shape == (25, 4)


def test_mpjpe_is_pooled_over_views_frames_and_joints():
    """Hand-computed: frame A's view 1 has 2 joints at 10 and 30 mm (joint 2 missing), its view 2 one joint at 80 mm
    (joints 0 and 1 missing), frame B's only view one joint at 40 mm -> (10+30+80+40)/4 = 40 mm; the volumetric kind
    is pooled on its own."""
    gt = torch.zeros(25, 4)
    gt[:3, 3] = 1.0  # joints 0-2 have ground truth

    def estimate(offsets):
        points, valid = torch.zeros(25, 4), torch.zeros(25, dtype=torch.bool)
        for joint, (axis, metres) in offsets.items():
            points[joint, axis], valid[joint] = metres, True
        return points, valid

    frame_a = FrameViews("s", 0, estimates={"source-views": [estimate({0: (0, 0.010), 1: (1, 0.030)}),
                                                               estimate({2: (2, 0.080)})],
                                            "volumetric": [estimate({0: (0, 0.100)})] * 2})  # fmt: skip
    frame_b = FrameViews("s", 1, estimates={"source-views": [estimate({2: (0, 0.040)})], "volumetric": []})
    frames = [frame_mpjpe_metrics(views, gt, "source-views") for views in (frame_a, frame_b)]
    out = aggregate_image_metrics([{"psnr": 20.0}], per_frame=frames)
    assert abs(out["mpjpe_3d"] - 40.0) < 1e-3 and abs(out["mpjpe_3d_source_views"] - 40.0) < 1e-3
    assert out["mpjpe_3d_num_joints"] == 4 and out["mpjpe_3d_num_missing"] == 1 + 2 + 2
    assert out["mpjpe_3d_num_frames"] == 2
    assert abs(out["mpjpe_3d_volumetric"] - 100.0) < 1e-3 and out["mpjpe_3d_volumetric_num_missing"] == 4
    # No rendered views -> nothing triangulated: the key exists with None (JSON null, never NaN) and every GT joint
    # counted as missing.
    assert out["mpjpe_3d_triangulated"] is None
    assert out["mpjpe_3d_triangulated_num_joints"] == 0 and out["mpjpe_3d_triangulated_num_missing"] == 6
    assert "mpjpe_3d" not in aggregate_image_metrics([{"psnr": 20.0}])


def test_undefined_metrics_are_null_for_ns_eval_and_left_out_for_the_trainers_writers():
    """ns-eval (no step) writes None as JSON null; the trainer (step given) hands values to float() scalar writers."""
    gt = torch.zeros(25, 4)
    gt[:3, 3] = 1.0
    views = FrameViews("s", 0, estimates={"volumetric": [(torch.zeros(25, 4), torch.zeros(25, dtype=torch.bool))]})
    nothing_found = frame_mpjpe_metrics(views, gt, "volumetric")

    class Evaluated:  # the two evaluation passes, already done
        def _evaluate_images(self, output_path):
            return [{"psnr": 20.0}, {"psnr": float("nan")}], {}

        def get_frame_3d_metrics(self, frames):
            return [nothing_found]

    for_eval = GHNeRFPipeline.get_average_eval_image_metrics(Evaluated(), get_std=True)  # type: ignore[arg-type]
    assert for_eval["mpjpe_3d"] is None and for_eval["psnr"] == 20.0
    assert "NaN" not in json.dumps(for_eval) and '"mpjpe_3d": null' in json.dumps(for_eval)
    for_writers = GHNeRFPipeline.get_average_eval_image_metrics(Evaluated(), step=10)  # type: ignore[arg-type]
    assert "mpjpe_3d" not in for_writers and all(isinstance(v, float) for v in for_writers.values())


def test_annotated_joints3d_triangulates_all_cameras_of_the_frame():
    """Real-data ground truth: DLT of the annotated (distorted) 2D keypoints of every camera of that subject/frame."""
    torch.manual_seed(3)
    joints = (torch.rand(25, 3) - 0.5).double()
    K = np.array([[500.0, 0, 255.5], [0, 500.0, 255.5], [0, 0, 1]], np.float32)
    rows = []
    for a in (-0.7, 0.1, 0.8):
        w2c = _look_at((3.0 * math.sin(a), 0.2, -3.0 * math.cos(a))).double()
        cam = joints @ w2c[:3, :3].T + w2c[:3, 3]
        uv = (cam @ torch.from_numpy(K).double().T)[:, :2] / cam[:, 2:]
        rows.append((w2c[:3].numpy().astype(np.float32), np.concatenate([uv.numpy(), np.ones((25, 1))], 1)))
    kp = np.stack([r[1] for r in rows]).astype(np.float32)
    kp[0, 4, 2] = kp[1, 4, 2] = 0.0  # joint 4 annotated in one camera only
    n = len(rows)
    index = HumanImageIndex(
        subjects=["CoreView_9", "CoreView_8"], image_filenames=[Path(f"{i}.jpg") for i in range(n + 1)],
        mask_filenames=[None] * (n + 1),
        subject_idx=np.array([0] * n + [1], np.int32), frame=np.array([5] * (n + 1), np.int32),
        camera=np.arange(n + 1, dtype=np.int32), K=np.stack([K] * (n + 1)),
        w2c=np.stack([r[0] for r in rows] + [rows[0][0]]), dist=np.zeros((n + 1, 5), np.float32),
        width=np.full(n + 1, 512, np.int32), height=np.full(n + 1, 512, np.int32),
        keypoints_2d=np.concatenate([kp, np.zeros((1, 25, 3), np.float32)]), keypoint_files=[None] * (n + 1),
        cse_files=[None] * (n + 1),
    )  # fmt: skip
    gt = annotated_joints3d([index], "CoreView_9", 5)
    assert gt.shape == (25, 4) and gt[4, 3] == 0 and (gt[torch.arange(25) != 4, 3] == 1).all()
    keep = torch.arange(25) != 4
    torch.testing.assert_close(gt[keep, :3].double(), joints[keep], atol=1e-4, rtol=0)


def test_references_are_averaged_where_their_volume_holds_the_point(monkeypatch):
    net, encoded, target = _scene()

    # Reference A holds the points with x < 0 and puts joint 0's heat there; B holds x >= 0 and puts joint 1's there.
    def fake_query(network, enc, volumes, tgt, points):
        left = points[:, 0] < 0
        heat = torch.zeros(points.shape[0], 25)
        which = 0 if tgt is target else 1
        heat[:, which] = 0.9
        inside = left if which == 0 else ~left
        return torch.full((points.shape[0],), 50.0), heat, inside

    monkeypatch.setattr(module, "query_points", fake_query)
    other = type(target)(K=target.K, w2c=target.w2c, height=target.height, width=target.width, box=target.box,
                         near_far=target.near_far)  # fmt: skip
    seen = {}
    extractor = KeypointExtractorConfig(volume_resolution=8, filter_sigma_3d_m=0.0).setup()
    monkeypatch.setattr(
        extractor,
        "extract_3d",
        lambda query, box: (
            seen.update(out=query(torch.tensor([[-0.1, 0.0, 0.0], [0.1, 0.0, 0.0]])))
            or (torch.zeros(25, 4), torch.zeros(25, dtype=torch.bool))
        ),
    )
    module.volumetric_keypoints(net, [(encoded, target), (encoded, other)], extractor)
    density, heat = seen["out"]
    torch.testing.assert_close(density, torch.tensor([50.0, 50.0]))
    torch.testing.assert_close(heat[:, :2], torch.tensor([[0.9, 0.0], [0.0, 0.9]]))
