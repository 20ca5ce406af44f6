"""GHNeRF for nerfstudio: a generalizable human NeRF that renders colour, BODY_25 joint heatmaps and dense-pose
embeddings of unseen people from 2-4 calibrated images.

Kept import-light (no torch) so that tools such as ``ghnerf-synth`` start fast. Importing the plugin changes nothing
in the process; :func:`ghnerf_ns.runtime.setup_runtime` (checkpoint safe globals, user-error hook, ffmpeg) runs when a
GHNeRF pipeline is built and at the start of our console scripts.
"""

__version__ = "0.1.0"
