"""ensure_ffmpeg: an ffmpeg on PATH for ns-render (and mediapy) even when the venv's bin is not on PATH."""

import os
import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg
import mediapy
import pytest

from ghnerf_ns.runtime.ffmpeg import ensure_ffmpeg


@pytest.fixture
def restore_mediapy():
    before = mediapy._config.ffmpeg_name_or_path
    yield
    mediapy.set_ffmpeg(before)


def test_links_the_imageio_ffmpeg_binary_when_none_is_on_path(tmp_path: Path, monkeypatch, restore_mediapy):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert shutil.which("ffmpeg") is None
    found = ensure_ffmpeg()
    assert found == str(tmp_path / "cache" / "ghnerf_ns" / "bin" / "ffmpeg")
    assert os.path.realpath(found) == os.path.realpath(imageio_ffmpeg.get_ffmpeg_exe())
    assert os.environ["PATH"].split(os.pathsep)[0] == str(empty)  # appended: a user's own ffmpeg keeps priority
    assert mediapy._config.ffmpeg_name_or_path == found
    version = subprocess.run([found, "-version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("ffmpeg version")
    assert ensure_ffmpeg() == found  # idempotent: the link is reused


def test_keeps_an_ffmpeg_already_on_path(tmp_path: Path, monkeypatch):
    own = tmp_path / "bin"
    own.mkdir()
    (own / "ffmpeg").write_text("#!/bin/sh\n")
    (own / "ffmpeg").chmod(0o755)
    monkeypatch.setenv("PATH", str(own))
    assert ensure_ffmpeg() == str(own / "ffmpeg")
    assert os.environ["PATH"] == str(own)
