"""GHNeRF for nerfstudio: a generalizable human NeRF that renders colour, BODY_25 joint heatmaps and dense-pose
embeddings of unseen people from 2-4 calibrated images."""

from ghnerf_ns.checkpoint_safety import register_checkpoint_safe_globals

__version__ = "0.1.0"

# Every ns-* command imports this package through its method entry point, so checkpoints written by nerfstudio (whose
# scheduler state holds numpy scalars) load under torch's weights-only loading without any user action.
register_checkpoint_safe_globals()
