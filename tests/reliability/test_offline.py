"""The suite's end-to-end path (ghnerf-synth, a few ns-train steps, ns-eval) with networking disabled: nothing tries
to reach the network (every connection outside loopback is refused at once and recorded)."""

import json
from pathlib import Path

import pytest

from tests.reliability.helpers import REPO, make_synth, ns_train_args, run_cli

pytestmark = pytest.mark.slow


def test_end_to_end_makes_no_network_connection(tmp_path: Path, monkeypatch):
    net_log = tmp_path / "connections.txt"
    loaded = tmp_path / "loaded.txt"
    guard = REPO / "tests" / "reliability" / "offline_sitecustomize"
    env = {
        "PYTHONPATH": str(guard),
        "GHNERF_NET_LOG": str(net_log),
        "GHNERF_NET_LOADED": str(loaded),
        **{name: "http://127.0.0.1:9" for name in ("https_proxy", "http_proxy", "HTTPS_PROXY", "HTTP_PROXY")},
        "TORCH_HOME": str(tmp_path / "torch_home"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # ghnerf-synth (make_synth) inherits them too
    data = make_synth(tmp_path / "zju")
    proc = run_cli(ns_train_args(data, tmp_path / "out", 3), cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-4000:]
    config = tmp_path / "out" / "rel" / "ghnerf-tiny" / "run" / "config.yml"
    proc = run_cli(["ns-eval", "--load-config", str(config), "--output-path", str(tmp_path / "eval.json")],
                   cwd=tmp_path, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-4000:]
    assert "psnr" in json.loads((tmp_path / "eval.json").read_text())["results"]
    assert len(loaded.read_text().split()) >= 3  # the guard ran in ghnerf-synth, ns-train and ns-eval
    assert not net_log.exists(), net_log.read_text()
