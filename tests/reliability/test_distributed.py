"""Two CPU processes in a gloo process group train ghnerf-tiny with DDP: each rank draws its own shard of targets
(sharded by the *global* rank) and both end with identical parameters (gradients are all-reduced in the DDP forward)."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.reliability.helpers import REPO, cli_env

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_rank_ddp_shards_samples_and_keeps_parameters_identical(synth_zju: Path, tmp_path: Path):
    port = _free_port()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.reliability.ddp_worker",
                "--rank",
                str(rank),
                "--port",
                str(port),
                "--data",
                str(synth_zju),
                "--out",
                str(tmp_path),
                "--steps",
                "3",
            ],
            cwd=REPO,
            env=cli_env({"OMP_NUM_THREADS": "1"}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for rank in (0, 1)
    ]
    logs = []
    try:
        for proc in procs:
            logs.append(proc.communicate(timeout=500)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, log in zip(procs, logs):
        assert proc.returncode == 0, log[-4000:]
    info = [json.loads((tmp_path / f"rank_{r}.json").read_text()) for r in (0, 1)]
    assert [i["rank"] for i in info] == [0, 1] and all(i["num_ranks"] == 2 for i in info)
    assert all(i["wrapped"] == "DistributedDataParallel" for i in info)
    rows0, rows1 = set(info[0]["rows"]), set(info[1]["rows"])
    assert rows0 and rows1 and not rows0 & rows1, (rows0, rows1)
    assert all(r % 2 == 0 for r in rows0) and all(r % 2 == 1 for r in rows1)  # shard = targets[rank::world_size]
    p0 = torch.load(tmp_path / "params_0.pt")
    p1 = torch.load(tmp_path / "params_1.pt")
    init = torch.load(tmp_path / "init_0.pt")
    assert p0.keys() == p1.keys()
    assert all(torch.equal(p0[k], p1[k]) for k in p0)
    assert any(not torch.equal(p0[k], init[k]) for k in p0)  # they trained (identical, not merely untouched)
