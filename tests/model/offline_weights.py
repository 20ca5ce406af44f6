"""Shared fixture of the weights tests: an empty torch hub cache and no network (attempts are recorded)."""

import urllib.error
import urllib.request
from pathlib import Path
from typing import List

import pytest


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """Every test: empty torch hub cache, and any network access fails at once (and is recorded)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    attempts: List[str] = []

    def no_network(url, *args, **kwargs):
        attempts.append(str(url))
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return attempts
