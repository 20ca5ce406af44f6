"""The GHNeRF field: colour modes, heads and their dimensions."""

import pytest
import torch

from ghnerf_ns.model.field import GHNeRFField
from ghnerf_ns.model.projection import ProjectedSamples


def _projected(num_views=3, channels=8, human=0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ProjectedSamples(
        features=torch.randn(6, 4, num_views, channels, generator=g),
        rgb=torch.rand(6, 4, num_views, 3, generator=g),
        ray_diff=torch.randn(6, 4, num_views, 4, generator=g),
        visible=torch.ones(6, 4, num_views, dtype=torch.bool),
        human=torch.randn(6, 4, num_views, human, generator=g) if human else None,
    )


def test_blend_colour_is_a_convex_combination_of_source_colours():
    torch.manual_seed(0)
    field = GHNeRFField(8, color_mode="blend")
    proj = _projected()
    out = field(torch.randn(6, 4, 8), proj, torch.randn(6, 3))
    assert out.color_weights is not None
    torch.testing.assert_close(out.color_weights.sum(-1), torch.ones(6, 4))
    assert (out.color_weights >= 0).all()
    torch.testing.assert_close(out.rgb, (out.color_weights[..., None] * proj.rgb).sum(-2))
    assert (out.rgb >= proj.rgb.min(-2).values - 1e-6).all() and (out.rgb <= proj.rgb.max(-2).values + 1e-6).all()
    assert (out.density >= 0).all()
    assert out.heatmaps is None and out.cse is None and out.coords is None


@pytest.mark.parametrize("human", [0, 7])
@pytest.mark.parametrize("cse_dim,coord", [(0, False), (16, True)])
def test_regress_mode_and_heads(human, cse_dim, coord):
    torch.manual_seed(0)
    field = GHNeRFField(
        8, color_mode="regress", with_heads=True, human_channels=human, cse_dim=cse_dim, coord_branch=coord
    )
    out = field(torch.randn(6, 4, 8), _projected(human=human), torch.nn.functional.normalize(torch.randn(6, 3), dim=-1))
    assert out.color_weights is None
    assert out.rgb.shape == (6, 4, 3) and ((out.rgb > 0) & (out.rgb < 1)).all()
    assert out.heatmaps.shape == (6, 4, 25) and ((out.heatmaps > 0) & (out.heatmaps < 1)).all()
    assert (out.cse is None) == (cse_dim == 0) and (out.coords is None) == (not coord)
    if cse_dim:
        assert out.cse.shape == (6, 4, 16)
        assert out.coords.shape == (6, 4, 3)
    # The heads see the human features (when present): changing them changes the heatmaps, not the density.
    if human:
        other = _projected(human=human)
        other.human = other.human + 1.0
        out2 = field(torch.randn(6, 4, 8), other, torch.randn(6, 3))
        assert not torch.allclose(out2.heatmaps, out.heatmaps)


def test_missing_human_features_is_a_clear_error():
    field = GHNeRFField(8, with_heads=True, human_channels=5)
    with pytest.raises(ValueError, match="human_feature_channels"):
        field(torch.randn(6, 4, 8), _projected(), torch.randn(6, 3))


@pytest.mark.parametrize("detach_inputs", [False, True])
def test_detach_cse_inputs_keeps_the_cse_loss_on_the_cse_head(detach_inputs):
    torch.manual_seed(0)
    field = GHNeRFField(
        8,
        with_heads=True,
        human_channels=7,
        cse_dim=16,
        joint_code_dim=5,
        detach_cse_geometry=True,
        detach_cse_inputs=detach_inputs,
    )
    torch.nn.init.normal_(field.g_cse[-1].weight)  # zero at init: no gradient would reach its inputs either way
    proj = _projected(human=7)
    proj.human.requires_grad_(True)
    voxel = torch.randn(6, 4, 8, requires_grad=True)
    code = torch.randn(6, 4, 5, requires_grad=True)
    out = field(voxel, proj, torch.randn(6, 3), joint_code=code)
    out.cse.square().sum().backward()
    assert field.g_cse[0].weight.grad.abs().max() > 0  # the CSE head itself always learns

    # What the heatmap head shares with it: the human features and psi_h, the joint code; and V_nerf's layers.
    def reached(grads):
        return [g is not None and bool(g.abs().max() > 0) for g in grads]

    shared = reached([proj.human.grad, code.grad] + [p.grad for p in field.psi_h.parameters()])
    geometry = reached([voxel.grad] + [p.grad for p in field.g_nerf.parameters()])
    assert not any(geometry)  # detach_cse_geometry already stops V_nerf
    assert not any(shared) if detach_inputs else all(shared)
    assert all(p.grad is None for p in field.g_h.parameters())


def test_mlp_on_parts_matches_the_mlp_on_the_concatenation_values_and_gradients():
    from ghnerf_ns.model.field import mlp_on_parts

    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2)).double()
    a = torch.randn(4, 3, 2, dtype=torch.double, requires_grad=True)
    # A transposed view, as psi's channels-first path returns its pooled feature.
    b_base = torch.randn(5, 12, dtype=torch.double, requires_grad=True)
    b = b_base.t().reshape(4, 3, 5)
    expected = mlp(torch.cat([a, b], dim=-1))
    got = mlp_on_parts(mlp, [a, b])
    torch.testing.assert_close(got, expected)
    grads = torch.autograd.grad(got.square().sum(), [a, b_base, *mlp.parameters()])
    grads_ref = torch.autograd.grad(expected.square().sum(), [a, b_base, *mlp.parameters()])
    for g, r in zip(grads, grads_ref):
        torch.testing.assert_close(g, r)
    with pytest.raises(ValueError, match="7"):
        mlp_on_parts(mlp, [a])
