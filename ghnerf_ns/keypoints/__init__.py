"""Keypoints: ground-truth heatmaps, 2D/3D peak extraction (paper 3.4), triangulation, PCK and MPJPE."""
