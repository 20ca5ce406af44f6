"""Every whole-image output goes through nerfstudio's colormap code without raising, for degenerate renders too."""

from dataclasses import replace

import pytest
import torch
from nerfstudio.utils.colormaps import ColormapOptions, apply_colormap, apply_pca_colormap

from ghnerf_ns.viewer.outputs import viewer_outputs
from ghnerf_ns.viewer.visuals import pca_colours


def _raw(h, w, heat, cse):
    return {
        "rgb": torch.rand(h, w, 3),
        "accumulation": torch.rand(h, w, 1),
        "depth": torch.rand(h, w, 1) + 1,
        "heatmaps": heat,
        "cse": cse,
    }


@pytest.mark.parametrize("kind", ["zeros", "constant", "two_pixels", "random"])
def test_viewer_outputs_never_break_the_viewer(kind):
    h, w = 9, 7
    make = {
        "zeros": lambda c: torch.zeros(h, w, c),
        "constant": lambda c: torch.full((h, w, c), 0.25),
        "two_pixels": lambda c: (
            torch.zeros(h, w, c)
            .index_fill_(1, torch.tensor([2, 5]), 0.0)
            .index_put_((torch.tensor([1, 3]), torch.tensor([2, 5])), torch.ones(2, c))
        ),
        "random": lambda c: torch.rand(h, w, c),
    }[kind]
    out = viewer_outputs(_raw(h, w, make(25), make(16)), None, 0.1)
    expected = {"rgb", "depth", "accumulation", "heatmap", "heatmaps", "heatmap_overlay", "keypoints_overlay", "cse",
                "cse_rgb"}  # fmt: skip
    assert set(out) == expected
    for name, value in out.items():
        assert value.ndim == 3 and value.shape[:2] == (h, w) and value.shape[-1] in (1, 3), name
        assert value.is_contiguous() and value.dtype == torch.float32 and torch.isfinite(value).all(), name
        shown = apply_colormap(value, ColormapOptions())  # what the viewer and ns-render do with the selection
        assert shown.shape == (h, w, 3) and torch.isfinite(shown).all(), name


def test_raw_maps_kept_for_dataset_cameras():
    raw = _raw(5, 6, torch.rand(5, 6, 25), torch.rand(5, 6, 16))
    out = viewer_outputs(raw, None, 0.1, keep_raw_maps=True)
    torch.testing.assert_close(out["heatmaps"], raw["heatmaps"])
    torch.testing.assert_close(out["cse"], raw["cse"])


def test_only_the_outputs_the_viewer_shows_are_made(monkeypatch):
    import ghnerf_ns.viewer.outputs as outputs_module
    from ghnerf_ns.viewer.outputs import DEFAULT_SETTINGS

    calls = []
    real_pca = outputs_module.pca_colours
    monkeypatch.setattr(outputs_module, "pca_colours", lambda x: calls.append(x.shape[-1]) or real_pca(x))
    raw = _raw(5, 6, torch.rand(5, 6, 25), torch.rand(5, 6, 16))
    out = viewer_outputs(raw, replace(DEFAULT_SETTINGS, shown_outputs=frozenset({"rgb"})), 0.1)
    assert set(out) >= {"heatmaps", "cse", "cse_rgb", "keypoints_overlay"}  # the "Output type" list keeps every name
    assert calls == [] and out["heatmaps"].shape == (5, 6, 1) and out["keypoints_overlay"].abs().max() == 0
    torch.testing.assert_close(out["rgb"], raw["rgb"])
    out = viewer_outputs(raw, replace(DEFAULT_SETTINGS, shown_outputs=frozenset({"heatmaps", "rgb"})), 0.1)
    assert calls == [25] and out["heatmaps"].shape == (5, 6, 3) and out["cse"].shape == (5, 6, 1)
    # Without a viewer (ns-render, scripts) every output is made.
    assert viewer_outputs(raw, replace(DEFAULT_SETTINGS, shown_outputs=None), 0.1)["cse"].shape == (5, 6, 3)


def test_pca_colours_matches_nerfstudio_when_defined():
    torch.manual_seed(0)
    feats = torch.rand(6, 5, 25)
    torch.manual_seed(1)
    ours = pca_colours(feats)
    torch.manual_seed(1)
    torch.testing.assert_close(ours, apply_pca_colormap(feats.clone()))
    assert (pca_colours(torch.zeros(4, 4, 25)) == 0).all()
