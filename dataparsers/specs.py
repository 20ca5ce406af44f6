"""Entry points (``nerfstudio.dataparser_configs``) of the human dataparsers: ``zju-mocap-data``, ``renderpeople-data``,
``easymocap-data``.

Imported by every ``ns-*`` command while nerfstudio builds its dataparser registry, so this module (and the config
modules it imports) must stay light and must never import ``ghnerf_ns``.
"""

from nerfstudio.plugins.registry_dataparser import DataParserSpecification

from dataparsers.easymocap_dataparser import EasyMocapDataParserConfig
from dataparsers.renderpeople_dataparser import RenderPeopleDataParserConfig
from dataparsers.zju_mocap_dataparser import ZJUMocapDataParserConfig

zju_mocap_dataparser = DataParserSpecification(
    config=ZJUMocapDataParserConfig(),
    description="ZJU-MoCap (Neural Body release, CoreView_* folders): split by subject, ENeRF's camera/frame protocol",
)

renderpeople_dataparser = DataParserSpecification(
    config=RenderPeopleDataParserConfig(),
    description="RenderPeople (SHERF release: human_list.txt, cameras.json, img/, mask/): split by subject",
)

easymocap_dataparser = DataParserSpecification(
    config=EasyMocapDataParserConfig(),
    description=(
        "One's own capture in the EasyMocap/EasyVolcap layout (intri.yml, extri.yml, images/<cam>/, masks/<cam>/)"
    ),
)
