"""Console scripts of ghnerf_ns that work on a trained run (``ghnerf-keypoints``)."""
