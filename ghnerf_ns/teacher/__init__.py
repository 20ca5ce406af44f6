"""The mediapipe teacher (``ghnerf-teacher``): BODY_25 OpenPose JSON and masks for a capture that has neither, and a
multi-view consistency check of any capture's 2D keypoints.

The teacher produces dataset annotations and training targets only: no model code imports it, and a trained model's
predictions never run it. mediapipe lives in its own venv (``make teacher``: ``.venv-teacher``), because its protobuf
4 and opencv-contrib cannot live beside nerfstudio's pins; so nothing in this package imports torch, nerfstudio or
the dataparser modules that do. It uses only ``dataparsers.body25``, ``dataparsers.openpose_json``,
``dataparsers.triangulation`` and ``dataparsers.human_common`` (numpy and jaxtyping), and OpenCV. mediapipe itself
is imported only by :mod:`ghnerf_ns.teacher.mediapipe_teacher`, when the first image is processed.
"""
