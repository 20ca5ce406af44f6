"""Console scripts: ``ghnerf-synth``, ``ghnerf-keypoints``, ``ghnerf-apply`` and ``ghnerf-camera-path``."""
