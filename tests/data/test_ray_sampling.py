"""Training-ray sampling: ENeRF's mask rule, joint-centred rays and patches (hand cases with expected counts)."""

import numpy as np

from ghnerf_ns.data.training_samples import RaySamplingSpec, joint_centred_pixels, sample_pixels


def test_joint_centred_pixels_without_spread_are_the_joints():
    rng = np.random.default_rng(0)
    joints = np.array([[10.2, 20.7], [3.0, 4.0]])
    out = joint_centred_pixels(rng, joints, 200, 0.0, 32, 32)
    assert out.shape == (200, 2) and out.dtype == np.int64
    assert {tuple(p) for p in out.tolist()} == {(10, 21), (3, 4)}


def test_joint_centred_pixels_stay_inside_the_image_and_spread_as_asked():
    rng = np.random.default_rng(1)
    out = joint_centred_pixels(rng, np.array([[0.0, 63.0]]), 20000, 4.0, 64, 64)
    assert out[:, 0].min() == 0 and out[:, 0].max() < 64 and out[:, 1].min() >= 0 and out[:, 1].max() == 63
    inner = joint_centred_pixels(rng, np.array([[32.0, 32.0]]), 20000, 4.0, 64, 64)
    assert abs(inner[:, 0].std() - 4.0) < 0.2 and abs(inner.mean() - 32.0) < 0.1
    assert len(joint_centred_pixels(rng, np.zeros((0, 2)), 10, 1.0, 8, 8)) == 0


def test_sample_pixels_splits_rays_between_the_rules():
    rng = np.random.default_rng(2)
    mask = np.zeros((64, 64), dtype=bool)
    mask[10:50, 20:40] = True  # 800 mask pixels
    joints = np.array([[5.0, 5.0]])  # outside the mask: joint rays are recognisable
    spec = RaySamplingSpec(num_rays=400, num_patches=1, patch_size=4, joint_fraction=0.25, joint_spread=0.0)
    pixels = sample_pixels(rng, mask, spec, joints)
    assert pixels.shape == (400 + 16, 2)
    at_joint = (pixels[:400] == [5, 5]).all(axis=1)
    assert at_joint.sum() >= 100  # 100 joint rays (+ any uniform ray that happens to land there)
    rays = pixels[:400][~at_joint]
    assert mask[rays[:, 1], rays[:, 0]].sum() >= 225  # 75% of the other 300 rays on the mask (ENeRF's rule)
    # Without joints (none valid) or with fraction 0 the rule is ENeRF's alone.
    plain = sample_pixels(np.random.default_rng(2), mask, RaySamplingSpec(400, 0, 4), joints)
    assert mask[plain[:, 1], plain[:, 0]].sum() >= 300
