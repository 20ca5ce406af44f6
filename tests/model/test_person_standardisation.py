"""Each view's person standardised before the human encoder (ghnerf_ns/model/person_standardisation.py): a hand case,
a slow per-view/per-channel reference (values and gradients), and the encoder reading it when configured."""

import numpy as np
import pytest
import torch

from ghnerf_ns.model.human_encoders import HumanEncoderConfig, build_human_encoder
from ghnerf_ns.model.person_standardisation import MIN_STD, PERSON_MEAN, PERSON_STD, standardise_person


def _reference(images: torch.Tensor) -> torch.Tensor:
    """Obviously correct: boolean indexing, one view and one channel at a time."""
    out = torch.zeros_like(images)
    for v in range(images.shape[0]):
        person = images[v].amax(dim=0) > 0
        if not person.any():
            continue
        for c in range(3):
            pixels = images[v, c][person]
            std = torch.sqrt(pixels.var(unbiased=False) + MIN_STD**2)
            channel = torch.zeros_like(images[v, c])
            channel[person] = (pixels - pixels.mean()) / std * PERSON_STD + PERSON_MEAN
            out[v, c] = channel
    return out


def test_hand_case():
    # One view, 1x4: two black pixels, two person pixels 0.2 and 0.4 in every channel: mean 0.3, spread 0.1.
    images = torch.tensor([0.0, 0.2, 0.0, 0.4]).view(1, 1, 1, 4).repeat(1, 3, 1, 1)
    expected_person = [PERSON_MEAN - PERSON_STD * 0.1 / np.sqrt(0.01 + MIN_STD**2),
                       PERSON_MEAN + PERSON_STD * 0.1 / np.sqrt(0.01 + MIN_STD**2)]  # fmt: skip
    out = standardise_person(images)[0, 0, 0]
    assert out[0] == 0 and out[2] == 0
    assert out[1].item() == pytest.approx(expected_person[0], abs=1e-6)
    assert out[3].item() == pytest.approx(expected_person[1], abs=1e-6)
    # A brighter, more contrasted copy of the same person comes out the same.
    brighter = torch.where(images > 0, images * 1.8 + 0.1, images)
    assert torch.allclose(standardise_person(brighter), standardise_person(images), atol=1e-5)
    assert torch.equal(standardise_person(torch.zeros(2, 3, 4, 5)), torch.zeros(2, 3, 4, 5))  # nobody: black


def test_matches_reference_values_and_gradients():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(3, 3, 9, 7, generator=generator, dtype=torch.float64)
    images[images.amax(dim=1, keepdim=True).expand_as(images) < 0.5] = 0.0  # black background where all are low
    images[2] = 0.0  # a view without a person
    images.requires_grad_(True)
    fast, slow = standardise_person(images), _reference(images)
    assert torch.allclose(fast, slow, atol=1e-10)
    weights = torch.rand(fast.shape, generator=generator, dtype=torch.float64)
    (grad_fast,) = torch.autograd.grad((fast * weights).sum(), images)
    (grad_slow,) = torch.autograd.grad((slow * weights).sum(), images)
    assert torch.allclose(grad_fast, grad_slow, atol=1e-10)


def test_encoder_reads_standardised_views():
    config = HumanEncoderConfig(name="resnet18", pretrained=False, resnet_stride=4, heatmap_head=True)
    encoder = build_human_encoder(config).eval()
    torch.manual_seed(0)
    images = torch.rand(2, 3, 32, 32) * (torch.rand(2, 1, 32, 32) > 0.4)
    plain = encoder.encode_lowres(images).features
    config.standardise_person = True
    standardised = encoder.encode_lowres(images).features
    config.standardise_person = False
    assert torch.allclose(standardised, encoder.encode_lowres(standardise_person(images)).features, atol=1e-6)
    assert not torch.allclose(plain, standardised, atol=1e-3)
    # Exposure no longer reaches the features (the person's pixels stay within the same per-channel moments).
    config.standardise_person = True
    darker = encoder.encode_lowres(images * 0.5).features
    assert torch.allclose(darker, standardised, atol=1e-4)
