"""Procedural synthetic humans (BODY_25 skeleton, ray-cast smooth primitives) written in the exact ZJU-MoCap,
RenderPeople (SHERF) and EasyMocap on-disk layouts, with ground truth the real datasets lack (3D joints, CSE
embeddings).

    from ghnerf_ns.synth import ZJUSynthConfig, write_zju
    write_zju(ZJUSynthConfig(out=Path("data/zju"), subjects=("313", "386"), frames=2, cameras=4, resolution=64))
"""

from ghnerf_ns.synth.easymocap_writer import EasyMocapSynthConfig, write_easymocap
from ghnerf_ns.synth.renderpeople_writer import RenderPeopleSynthConfig, write_renderpeople
from ghnerf_ns.synth.zju_writer import ZJUSynthConfig, write_zju

__all__ = [
    "EasyMocapSynthConfig", "RenderPeopleSynthConfig", "ZJUSynthConfig", "write_easymocap", "write_renderpeople",
    "write_zju",
]  # fmt: skip
