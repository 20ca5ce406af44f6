"""Photometric augmentation of the 2D pose views (training only): what a camera, its exposure and its codec do to
a person's pixels, so the pose head does not learn one renderer's colours.

Only the person's pixels change (the background of a loaded view is black and stays black); geometry, keypoints and
intrinsics are untouched, so the heatmap targets stay exact. Source and target views are never augmented: their
colours are what the renderer must reproduce.
"""

from dataclasses import replace

import numpy as np

from ghnerf_ns.data.image_loading import LoadedView

BRIGHTNESS = (0.6, 1.4)
"""Range of the multiplicative exposure change."""
CONTRAST = (0.6, 1.4)
"""Range of the contrast change about the person's mean colour."""
SATURATION = (0.4, 1.5)
"""Range of the saturation change (0 = grey)."""
CAST = 0.08
"""Largest per-channel multiplicative colour cast (white balance)."""
BLUR_SIGMA = (0.0, 1.2)
"""Range of the Gaussian blur, working-resolution pixels (applied to half of the views)."""
NOISE = (0.0, 0.03)
"""Range of the per-pixel Gaussian noise level."""


def augment_view(view: LoadedView, rng: np.random.Generator) -> LoadedView:
    """``view`` with random exposure, contrast, saturation, colour cast, blur and noise on the person's pixels."""
    image = np.asarray(view.image, dtype=np.float32)  # read only: the augmented copy is `out`
    fg = view.mask > 0
    if not fg.any():
        return view
    out = image.copy()
    pixels = image[fg]
    mean = pixels.mean(axis=0)
    pixels = (pixels - mean) * rng.uniform(*CONTRAST) + mean
    grey = pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    pixels = grey[:, None] + (pixels - grey[:, None]) * rng.uniform(*SATURATION)
    pixels = pixels * rng.uniform(*BRIGHTNESS) * rng.uniform(1 - CAST, 1 + CAST, size=3)
    out[fg] = pixels
    if rng.uniform() < 0.5:
        out = _blur(out, rng.uniform(*BLUR_SIGMA))
    out = out + rng.normal(scale=rng.uniform(*NOISE), size=out.shape).astype(np.float32)
    out = np.where(fg[..., None], np.clip(out, 0.0, 1.0), image)
    return replace(view, image=out)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    if sigma < 0.3:
        return image
    import cv2

    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
