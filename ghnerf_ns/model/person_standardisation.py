"""Exposure and white balance taken out of the human encoder's input: each view's person standardised per channel.

The training people are rendered dimly (their pixels average about 0.25 in [0, 1], spread 0.13-0.15), while a
photographed person is often much brighter and more contrasted (Pose2Sim's real trial: 0.38, spread 0.20). A network
trained from scratch on the renders has only seen the first; photometric augmentation widens what it sees, and this
removes the difference instead: every view's person pixels get the same per-channel mean and spread before the
encoder, so a brighter, greyer or warmer capture looks like the training views in those two moments. The person is
what is not black: the loaded views paint everything outside the (dilated) mask black.
"""

import torch
from jaxtyping import Float
from torch import Tensor

PERSON_MEAN = 0.45
"""Mean of each channel of a view's person pixels after standardisation (in [0, 1] units, near ImageNet's)."""
PERSON_STD = 0.2
"""Standard deviation of each channel of a view's person pixels after standardisation."""
MIN_STD = 1e-3
"""Floor of a channel's spread (a flat-coloured person is shifted, not blown up)."""


def standardise_person(images: Float[Tensor, "num_views 3 H W"]) -> Float[Tensor, "num_views 3 H W"]:
    """Each view's non-black pixels moved to per-channel mean :data:`PERSON_MEAN` and standard deviation
    :data:`PERSON_STD`; black pixels (the background) stay 0. A view without a person comes back black."""
    person = (images.amax(dim=1, keepdim=True) > 0).to(images.dtype)
    count = person.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
    mean = (images * person).sum(dim=(2, 3), keepdim=True) / count
    var = ((images - mean) ** 2 * person).sum(dim=(2, 3), keepdim=True) / count
    scaled = (images - mean) / torch.sqrt(var + MIN_STD**2) * PERSON_STD + PERSON_MEAN
    return scaled * person
