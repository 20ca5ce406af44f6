"""``ghnerf-synth``: write synthetic multi-view human datasets in the exact ZJU-MoCap, RenderPeople or EasyMocap layout.

    ghnerf-synth zju --out data/zju_synth --subjects 313 386 --frames 10 --cameras 12 --resolution 128
    ghnerf-synth renderpeople --out data/rp_synth --subjects 4 --poses 10 --cameras 36 --resolution 128
    ghnerf-synth easymocap --out data/em_synth --subjects 4 --frames 4 --cameras 8 --resolution 128 \\
        --mixed-sizes --no-smpl

Also runnable as ``python -m ghnerf_ns.cli.synth``.
"""

import sys
import time
from typing import Union

import tyro
from typing_extensions import Annotated

from ghnerf_ns.synth.easymocap_writer import EasyMocapSynthConfig, write_easymocap
from ghnerf_ns.synth.renderpeople_writer import RenderPeopleSynthConfig, write_renderpeople
from ghnerf_ns.synth.zju_writer import ZJUSynthConfig, write_zju

Commands = Union[
    Annotated[ZJUSynthConfig, tyro.conf.subcommand("zju", prefix_name=False)],
    Annotated[RenderPeopleSynthConfig, tyro.conf.subcommand("renderpeople", prefix_name=False)],
    Annotated[EasyMocapSynthConfig, tyro.conf.subcommand("easymocap", prefix_name=False)],
]
SynthConfig = Union[ZJUSynthConfig, RenderPeopleSynthConfig, EasyMocapSynthConfig]


def main(cfg: SynthConfig) -> None:
    """Runs the writer of the chosen layout and reports where the dataset went."""
    start = time.perf_counter()
    if isinstance(cfg, ZJUSynthConfig):
        out = write_zju(cfg)
    elif isinstance(cfg, RenderPeopleSynthConfig):
        out = write_renderpeople(cfg)
    else:
        out = write_easymocap(cfg)
    print(f"ghnerf-synth: wrote {out} in {time.perf_counter() - start:.1f} s (see {out / 'GHNERF_SYNTH.txt'})")


def entrypoint() -> None:
    """Console-script entry point."""
    cfg = tyro.cli(Commands, prog="ghnerf-synth", description=__doc__)
    try:
        main(cfg)
    except ValueError as err:
        print(f"ghnerf-synth: error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    entrypoint()
