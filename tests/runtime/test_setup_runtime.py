"""Importing the plugin's entry points changes nothing in the process and loads only configs and their targets;
building a GHNeRF pipeline sets the process up."""

import os
import subprocess
import sys
from pathlib import Path

CHECK = """
import os, shutil, sys
from pathlib import Path

import numpy.core.multiarray as multiarray
import torch.serialization as serialization

hook, path = sys.excepthook, os.environ["PATH"]
import dataparsers.specs
import ghnerf_ns.ghnerf_config as methods
from dataparsers.human_common import DatasetFormatError

assert sys.excepthook is hook, "importing the entry points replaced sys.excepthook"
assert os.environ["PATH"] == path, "importing the entry points changed PATH"
assert multiarray.scalar not in serialization.get_safe_globals(), "importing the entry points added safe globals"
assert not (Path(os.environ["XDG_CACHE_HOME"]) / "ghnerf_ns").exists(), "importing the entry points wrote a cache"

config = methods.ghnerf_tiny_method.config.pipeline
config.datamanager.dataparser.data = Path(sys.argv[1])
try:
    config.setup(device="cpu", test_mode="val")
except DatasetFormatError:
    pass  # the dataparser ran (and failed on the missing folder) after the pipeline set the process up
else:
    raise AssertionError("the dataparser accepted a missing dataset")
assert getattr(sys.excepthook, "ghnerf_hook", False), "building the pipeline did not install the user-error hook"
assert multiarray.scalar in serialization.get_safe_globals(), "building the pipeline did not register safe globals"
assert shutil.which("ffmpeg"), "building the pipeline did not make an ffmpeg available"
print("ok")
"""

LOADED = """
import sys

import dataparsers.specs
import ghnerf_ns.ghnerf_config

print(" ".join(sorted(name for name in sys.modules if name.split(".")[0] in ("ghnerf_ns", "dataparsers"))))
"""

USED_ONLY_BY_RUNS = ("ghnerf_ns.render", "ghnerf_ns.viewer", "ghnerf_ns.eval", "ghnerf_ns.cli", "ghnerf_ns.synth")
"""Packages that whole-image rendering, the viewer, ns-eval's metrics and our CLIs import when they run."""


def test_entry_points_load_configs_and_their_targets_only():
    """Every ns-* command (``ns-train nerfacto`` included) imports the entry points: they load the config classes and
    their ``_target`` classes (pipeline, data manager, model, network), not the modules that only a GHNeRF run uses
    (benchmarks/README.md, "Plugin import cost")."""
    result = subprocess.run([sys.executable, "-c", LOADED], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = result.stdout.split()
    assert {"ghnerf_ns.ghnerf_config", "ghnerf_ns.pipeline", "ghnerf_ns.model.network", "dataparsers.specs"} <= set(
        loaded
    )
    assert [name for name in loaded if name.startswith(USED_ONLY_BY_RUNS)] == []


def test_entry_points_have_no_side_effects_and_the_pipeline_sets_up_the_process(tmp_path: Path):
    env = {**os.environ, "PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("GHNERF_DEBUG", None)
    if any(Path(folder, "ffmpeg").exists() for folder in ("/usr/bin", "/bin")):
        env["PATH"] = str(tmp_path / "empty-bin")  # no system ffmpeg: the set-up must provide one
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(tmp_path / "missing")], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
