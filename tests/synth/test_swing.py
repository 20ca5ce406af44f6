"""anny_body.swing: the smallest rotation taking one direction onto another (hand-computed cases)."""

import numpy as np

from ghnerf_ns.synth.anny_body import ANNY_FROM_BODY, swing


def test_quarter_turn_about_z() -> None:
    np.testing.assert_allclose(
        swing(np.array([1.0, 0, 0]), np.array([0, 2.0, 0])), [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12
    )


def test_maps_direction_and_stays_a_rotation() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.normal(size=3), rng.normal(size=3)
        R = swing(a, b)
        np.testing.assert_allclose(R @ (a / np.linalg.norm(a)), b / np.linalg.norm(b), atol=1e-12)
        np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
        assert np.isclose(np.linalg.det(R), 1.0)
        np.testing.assert_allclose(R @ np.cross(a, b), np.cross(a, b), atol=1e-12)  # the axis stays put


def test_parallel_and_opposite_directions() -> None:
    np.testing.assert_allclose(swing(np.array([0, 0, 3.0]), np.array([0, 0, 1.0])), np.eye(3))
    R = swing(np.array([0, 1.0, 0]), np.array([0, -1.0, 0]))
    np.testing.assert_allclose(R @ [0, 1.0, 0], [0, -1.0, 0], atol=1e-12)
    assert np.isclose(np.linalg.det(R), 1.0)


def test_body_frame_axes() -> None:
    # Body frame: +y up, facing +z, left +x; Anny: +z up, facing -y, left +x.
    np.testing.assert_allclose(ANNY_FROM_BODY @ [0, 1.0, 0], [0, 0, 1.0])
    np.testing.assert_allclose(ANNY_FROM_BODY @ [0, 0, 1.0], [0, -1.0, 0])
    np.testing.assert_allclose(ANNY_FROM_BODY @ [1.0, 0, 0], [1.0, 0, 0])
