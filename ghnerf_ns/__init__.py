"""GHNeRF for nerfstudio: a generalizable human NeRF that renders colour, BODY_25 joint heatmaps and dense-pose
embeddings of unseen people from 2-4 calibrated images.

Kept import-light (no torch) so that tools such as ``ghnerf-synth`` start fast; the nerfstudio entry point
(:mod:`ghnerf_ns.ghnerf_config`) registers the checkpoint safe globals.
"""

__version__ = "0.1.0"
