"""``ghnerf-synth``: write synthetic multi-view human datasets in the exact ZJU-MoCap, RenderPeople or EasyMocap layout.

Examples (``ghnerf-synth <layout> --help`` lists the options of each layout):

    ghnerf-synth zju --out data/zju_synth && ns-train ghnerf-tiny --data data/zju_synth
    ghnerf-synth zju --out data/zju_val --subjects 301 302 --frames 8 --cameras 24
    ghnerf-synth renderpeople --out data/rp_synth --num-subjects 4 --frames 10 --cameras 36
    ghnerf-synth easymocap --out data/em_synth --num-subjects 4 --frames 4 --cameras 8 --mixed-sizes --no-smpl

``ghnerf-synth zju`` writes by default the eight people of the paper's split, which the zju-mocap-data dataparser
reads by default (train 315 377 387 390 393 394, test 313 386), at ghnerf-tiny's 128 px; other ids need
``zju-mocap-data --train-subjects ... --test-subjects ...`` in ns-train. In every layout ``--subjects`` takes ids
(an id, with ``--seed``, fixes a person and names its folder) and ``--num-subjects N`` is a count (the ids 0..N-1,
zero-padded); ``--frames``, ``--cameras``, ``--resolution`` and ``--seed`` mean the same everywhere.

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
