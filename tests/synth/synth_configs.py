"""Config builders for the synth tests (tiny sizes, progress bar off)."""

from pathlib import Path

from ghnerf_ns.synth import RenderPeopleSynthConfig, ZJUSynthConfig


def zju_config(out: Path, **overrides) -> ZJUSynthConfig:
    options = dict(out=out, subjects=("313", "386"), frames=2, cameras=4, resolution=64, distortion=True,
                   style="auto", seed=0, progress=False)  # fmt: skip
    options.update(overrides)
    return ZJUSynthConfig(**options)


def rp_config(out: Path, **overrides) -> RenderPeopleSynthConfig:
    options = dict(out=out, num_subjects=2, frames=2, cameras=4, resolution=64, seed=0, progress=False)
    options.update(overrides)
    return RenderPeopleSynthConfig(**options)
