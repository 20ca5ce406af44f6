"""Every console script's ``--help`` (and each ghnerf-synth subcommand's) shows a runnable example command line."""

import importlib
import sys
from typing import List

import pytest

HELP_EXAMPLES = [
    ("ghnerf_ns.cli.synth", ["ghnerf-synth"], "ghnerf-synth zju --out"),
    ("ghnerf_ns.cli.synth", ["ghnerf-synth", "zju"], "ghnerf-synth zju --out data/zju_synth"),
    ("ghnerf_ns.cli.synth", ["ghnerf-synth", "renderpeople"], "ghnerf-synth renderpeople --out data/rp_synth"),
    ("ghnerf_ns.cli.synth", ["ghnerf-synth", "easymocap"], "ghnerf-synth easymocap --out data/em_synth"),
    ("ghnerf_ns.cli.apply", ["ghnerf-apply"], "ghnerf-apply --load-config demo_outputs/"),
    ("ghnerf_ns.cli.camera_path", ["ghnerf-camera-path"], "ghnerf-camera-path --load-config outputs/"),
]
"""(module, argv before --help, the start of an example that the help text must contain)."""


@pytest.mark.parametrize("module,argv,example", HELP_EXAMPLES, ids=[" ".join(c[1]) for c in HELP_EXAMPLES])
def test_help_shows_an_example(module: str, argv: List[str], example: str, monkeypatch, capsys) -> None:
    entrypoint = importlib.import_module(module).entrypoint
    monkeypatch.setattr(sys, "argv", [*argv, "--help"])
    with pytest.raises(SystemExit) as exit_info:
        entrypoint()
    assert exit_info.value.code == 0
    # The help is wrapped to the terminal's width: compare with every run of whitespace made one space.
    text = " ".join(capsys.readouterr().out.split())
    assert example in text, text[:2000]
