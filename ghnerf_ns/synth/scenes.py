"""Which body a synthetic subject gets: the built-in procedural people or realistic Anny people.

The writers ask :func:`make_scene` for a subject and use only the interface the two scene classes share:
``body_centre()``, ``frame(i)`` (``joints``, ``vertices``, ``pose``), ``render_view(...)`` and ``shape``.
"""

from typing import Literal, Union

import numpy as np
from jaxtyping import Float

from ghnerf_ns.synth.render import SubjectScene

BodyModel = Literal["procedural", "anny"]
BODY_MODELS = ("procedural", "anny")


def make_scene(
    body: str,
    subject_id: str,
    seed: int,
    world_rotation: Float[np.ndarray, "3 3"],
    world_offset: Float[np.ndarray, "3"],
    num_surface_points: int,
    fps: float,
) -> Union[SubjectScene, "AnnySubjectScene"]:  # noqa: F821
    """The scene of one subject with the chosen body model."""
    if body == "procedural":
        return SubjectScene(subject_id, seed, world_rotation, world_offset, num_surface_points, fps)
    if body == "anny":
        from ghnerf_ns.synth.anny_scene import AnnySubjectScene

        return AnnySubjectScene(subject_id, seed, world_rotation, world_offset, num_surface_points, fps)
    raise ValueError(f"--body must be one of {', '.join(BODY_MODELS)} (got {body!r}).")
