"""Paths named inside dataset files stay inside the dataset root."""

import os
from pathlib import Path

import pytest

from dataparsers.human_common import DatasetFormatError
from dataparsers.path_safety import DatasetTree


@pytest.fixture
def tree(tmp_path: Path) -> DatasetTree:
    root = tmp_path / "root"
    (root / "CoreView_1" / "Camera_B1").mkdir(parents=True)
    (root / "CoreView_1" / "Camera_B1" / "000000.jpg").write_bytes(b"")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.jpg").write_bytes(b"")
    return DatasetTree(root)


@pytest.mark.parametrize(
    "name, message",
    [
        ("/etc/passwd", "absolute path"),
        ("\\\\server\\share\\x.jpg", "absolute path"),
        ("C:/Windows/x.jpg", "absolute path"),
        ("../outside/secret.jpg", "escapes the dataset root"),
        ("CoreView_1/../../outside/secret.jpg", "escapes the dataset root"),
        ("", "non-empty relative path"),
    ],
)
def test_refuses_escapes(tree: DatasetTree, name: str, message: str) -> None:
    with pytest.raises(DatasetFormatError, match=rf"annots\.npy: .*{message}"):
        tree.relative(name, Path("annots.npy"), "image path")


def test_normalises_harmless_names(tree: DatasetTree) -> None:
    src = Path("annots.npy")
    assert tree.relative("CoreView_1/Camera_B1/000000.jpg", src, "x") == "CoreView_1/Camera_B1/000000.jpg"
    assert tree.relative("CoreView_1/./Camera_B1//000000.jpg", src, "x") == "CoreView_1/Camera_B1/000000.jpg"
    assert tree.relative("CoreView_1/x/../Camera_B1/000000.jpg", src, "x") == "CoreView_1/Camera_B1/000000.jpg"
    assert tree.exists("CoreView_1/Camera_B1/000000.jpg")
    assert not tree.exists("CoreView_1/Camera_B1/000001.jpg")
    assert not tree.exists("CoreView_1/Camera_B9/000000.jpg")


def test_symlinks(tmp_path: Path, tree: DatasetTree) -> None:
    cam = tree.root / "CoreView_1" / "Camera_B1"
    os.symlink(tmp_path / "outside" / "secret.jpg", cam / "000001.jpg")
    os.symlink(cam / "000000.jpg", cam / "000002.jpg")  # inside the root: followed
    os.symlink(tmp_path / "outside", tree.root / "CoreView_1" / "Camera_B2")  # a whole folder outside
    assert tree.exists("CoreView_1/Camera_B1/000002.jpg")
    with pytest.raises(DatasetFormatError, match="outside the dataset root.*allow-symlinks-outside-root"):
        tree.exists("CoreView_1/Camera_B1/000001.jpg")
    with pytest.raises(DatasetFormatError, match="outside the dataset root"):
        tree.exists("CoreView_1/Camera_B2/secret.jpg")
    trusting = DatasetTree(tree.root, allow_symlinks_outside_root=True)
    assert trusting.exists("CoreView_1/Camera_B1/000001.jpg")
    assert trusting.exists("CoreView_1/Camera_B2/secret.jpg")
