"""The dataparsers register with nerfstudio as ``zju-mocap-data``, ``renderpeople-data`` and ``easymocap-data``."""

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from nerfstudio.plugins.registry_dataparser import discover_dataparsers

from dataparsers.easymocap_dataparser import EasyMocapDataParserConfig
from dataparsers.renderpeople_dataparser import RenderPeopleDataParserConfig
from dataparsers.zju_mocap_dataparser import ZJUMocapDataParserConfig

REPO = Path(__file__).resolve().parents[2]
ENV_SPEC = (
    "zju-mocap-data=dataparsers.specs:zju_mocap_dataparser,"
    "renderpeople-data=dataparsers.specs:renderpeople_dataparser,"
    "easymocap-data=dataparsers.specs:easymocap_dataparser"
)


def test_specs_and_env_var_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NERFSTUDIO_DATAPARSER_CONFIGS", ENV_SPEC)
    configs, descriptions = discover_dataparsers()
    assert isinstance(configs["zju-mocap-data"], ZJUMocapDataParserConfig)
    assert isinstance(configs["renderpeople-data"], RenderPeopleDataParserConfig)
    assert isinstance(configs["easymocap-data"], EasyMocapDataParserConfig)
    assert descriptions["zju-mocap-data"] and descriptions["renderpeople-data"] and descriptions["easymocap-data"]


def test_specs_import_no_method_package() -> None:
    """dataparsers must never import ghnerf_ns (nerfstudio's registry would import it half-initialised)."""
    code = "import sys, dataparsers.specs; print(any(m.startswith('ghnerf_ns') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_ns_train_help_lists_dataparsers() -> None:
    env = dict(os.environ)
    if not {"zju-mocap-data", "renderpeople-data", "easymocap-data"} <= set(
        entry_points(group="nerfstudio.dataparser_configs").names
    ):
        env["NERFSTUDIO_DATAPARSER_CONFIGS"] = ENV_SPEC  # package not pip-installed: register through the env var
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    ns_train = Path(sys.executable).parent / "ns-train"
    out = subprocess.run(
        [str(ns_train), "nerfacto", "--help"], capture_output=True, text=True, env=env, timeout=300, cwd="/"
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "zju-mocap-data" in out.stdout and "renderpeople-data" in out.stdout and "easymocap-data" in out.stdout
