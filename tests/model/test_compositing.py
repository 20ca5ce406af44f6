"""ENeRF compositing: hand-computed case, reference loop (values + grads), the depth-softmax quirk."""

import math

import torch

from ghnerf_ns.model.compositing import accumulation, composite, enerf_depth, expected_depth, weights_from_density


def reference_composite(density, values):
    """Front-to-back loop over samples."""
    R, S = density.shape
    out = torch.zeros(R, values.shape[-1], dtype=density.dtype)
    trans = torch.ones(R, dtype=density.dtype)
    weights = []
    for i in range(S):
        alpha = 1 - torch.exp(-density[:, i])
        w = alpha * trans
        out = out + w[:, None] * values[:, i]
        trans = trans * (1 - alpha + 1e-10)
        weights.append(w)
    return out, torch.stack(weights, dim=1)


def test_hand_computed_three_samples():
    # sigma = (ln 2, ln 4, 0) -> alpha = (0.5, 0.75, 0)
    # transmittance: [1.0, 0.5, 0.125]   (the 1e-10 terms are below float precision here)
    # weights:       [0.5, 0.375, 0.0]
    density = torch.tensor([[math.log(2.0), math.log(4.0), 0.0]])
    w = weights_from_density(density)
    torch.testing.assert_close(w, torch.tensor([[0.5, 0.375, 0.0]]))
    torch.testing.assert_close(accumulation(w), torch.tensor([[0.875]]))
    rgb = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
    torch.testing.assert_close(composite(w, rgb), torch.tensor([[0.5, 0.375, 0.0]]))
    z = torch.tensor([[2.0, 3.0, 4.0]])
    # expected z-depth: (0.5*2 + 0.375*3) / 0.875 = 2.125 / 0.875 = 2.428571... (eps term negligible)
    torch.testing.assert_close(expected_depth(w, z), torch.tensor([2.125 / 0.875]), atol=1e-5, rtol=0)
    # ENeRF parity quirk: softmax(w) = (e^0.5, e^0.375, e^0) / sum = (1.64872, 1.45499, 1.0) / 4.10371
    # -> depth = (1.64872*2 + 1.45499*3 + 1.0*4) / 4.10371 = 11.66241 / 4.10371 = 2.84192 (not 2.4286)
    torch.testing.assert_close(enerf_depth(w, z), torch.tensor([2.84192]), atol=1e-4, rtol=0)


def test_matches_reference_values_and_grads():
    g = torch.Generator().manual_seed(0)
    density = (torch.rand(16, 6, generator=g, dtype=torch.float64) * 3).requires_grad_()
    values = torch.rand(16, 6, 25, generator=g, dtype=torch.float64).requires_grad_()
    d_ref, v_ref = density.detach().clone().requires_grad_(), values.detach().clone().requires_grad_()
    w = weights_from_density(density)
    out = composite(w, values)
    ref, w_ref = reference_composite(d_ref, v_ref)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(w, w_ref)
    probe = torch.randn(16, 25, generator=g, dtype=torch.float64)
    ((out * probe).sum() + w.sum()).backward()
    ((ref * probe).sum() + w_ref.sum()).backward()
    torch.testing.assert_close(density.grad, d_ref.grad)
    torch.testing.assert_close(values.grad, v_ref.grad)


def test_enerf_depth_detaches_samples_and_empty_rays_fall_back():
    z = torch.tensor([[2.0, 3.0, 4.0]], requires_grad=True)
    w = torch.zeros(1, 3, requires_grad=True)
    enerf_depth(w, z).sum().backward()
    assert z.grad is None or z.grad.abs().sum() == 0  # ENeRF parity: z_vals.detach()
    # Zero weights: uniform softmax -> mean (3.0); expected depth falls back to the mean sample depth too.
    torch.testing.assert_close(enerf_depth(w, z).detach(), torch.tensor([3.0]))
    torch.testing.assert_close(expected_depth(w.detach(), z.detach()), torch.tensor([3.0]))
