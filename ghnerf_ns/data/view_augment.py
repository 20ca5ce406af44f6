"""Augmentation of the 2D pose views (training only), so the pose head learns bodies rather than one renderer's
colours and one rig's framing.

- Photometric (:func:`augment_view`): what a camera, its exposure and its codec do to a person's pixels. Only the
  person's pixels change (the background of a loaded view is black and stays black); geometry, keypoints and
  intrinsics are untouched.
- Geometric (:func:`rotate_scale_view`, :func:`warp_view`): an in-plane rotation and a zoom about the person's
  centre, as a tilted camera, a leaning body or a closer camera would give. Image, mask and keypoints move together,
  and ``K`` becomes the affine map times ``K``, so projecting the world into the warped view stays exact (the human
  encoder's windows use it).

Source and target views are never augmented: their colours and geometry are what the renderer must reproduce.
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


def rotate_scale_view(view: LoadedView, rng: np.random.Generator, max_degrees: float, max_zoom: float) -> LoadedView:
    """``view`` turned by a uniform angle in [-max_degrees, max_degrees] and zoomed by a factor drawn log-uniformly in
    [1 / (1 + max_zoom), 1 + max_zoom], about the centre of its person's mask (:func:`warp_view`)."""
    if max_degrees <= 0 and max_zoom <= 0:
        return view
    degrees = float(rng.uniform(-max_degrees, max_degrees)) if max_degrees > 0 else 0.0
    zoom = float(np.exp(rng.uniform(-1.0, 1.0) * np.log1p(max_zoom))) if max_zoom > 0 else 1.0
    return warp_view(view, degrees, zoom)


def warp_view(view: LoadedView, degrees: float, zoom: float) -> LoadedView:
    """``view`` rotated by ``degrees`` (counter-clockwise as displayed) and zoomed by ``zoom`` about the centre of its
    person's mask; an empty mask leaves the view alone.

    The affine map ``A`` (2x3, pixel to pixel) warps the image (bilinear) and mask (nearest) with a black, empty
    border, moves the keypoints (a joint pushed out of the image is dropped by the heatmap targets' validity test), and
    gives ``K' = [A; 0 0 1] K``: a pixel of the warped view is ``A`` of the original's, so the projection of every world
    point follows (the matrix gains off-diagonal terms, which ``project`` handles).
    """
    fg = view.mask > 0
    if not fg.any():
        return view
    import cv2

    ys, xs = np.nonzero(fg)
    affine = cv2.getRotationMatrix2D((float(xs.mean()), float(ys.mean())), degrees, zoom)
    height, width = fg.shape
    image = cv2.warpAffine(
        np.asarray(view.image, dtype=np.float32), affine, (width, height), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=(0.0, 0.0, 0.0),
    )  # fmt: skip
    mask = cv2.warpAffine(view.mask, affine, (width, height), flags=cv2.INTER_NEAREST, borderValue=0)
    # Bilinear weights bleed the person into pixels just outside the warped mask; keep the background black.
    image[mask == 0] = 0.0
    K = (np.vstack([affine, [0.0, 0.0, 1.0]]) @ view.K.astype(np.float64)).astype(np.float32)
    keypoints = None
    if view.keypoints is not None:
        keypoints = view.keypoints.copy()
        keypoints[:, :2] = keypoints[:, :2] @ affine[:, :2].T.astype(np.float32) + affine[:, 2].astype(np.float32)
    # Pose views are loaded without CSE targets; one that had them would need them warped too.
    return replace(view, image=image, mask=mask, K=K, keypoints=keypoints, cse=None)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    if sigma < 0.3:
        return image
    import cv2

    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
