"""Keep every path named inside a dataset file inside the dataset root, and check existence cheaply.

Dataset files name other files (ZJU ``annots['ims'][f]['ims']``, RenderPeople ``human_list.txt``). A crafted file
could point at ``/etc/passwd`` or ``../../secret``; :class:`DatasetTree` refuses absolute paths and ``..`` escapes,
and follows a symlink only when its target stays inside the root (unless explicitly allowed).

Existence checks must scale to ZJU-MoCap (~400k images): each folder is listed once with :func:`os.scandir` and
later lookups are dictionary hits, instead of one ``stat`` per file.
"""

import os
import posixpath
from pathlib import Path
from typing import Dict, List, Optional

from dataparsers.human_common import DatasetFormatError


def _child(parent: Path, name: str) -> Path:
    """``parent / name`` for a single plain name, without re-parsing the parent (hundreds of thousands of calls)."""
    make_child = getattr(parent, "_make_child_relpath", None)  # CPython's own fast path for directory walks
    return make_child(name) if make_child is not None else parent / name


class Folder:
    """One listed dataset folder: existence checks and child paths for plain file names (no ``/``)."""

    __slots__ = ("tree", "rel", "path", "entries")

    def __init__(self, tree: "DatasetTree", rel: str):
        self.tree = tree
        self.rel = rel
        self.path = tree.root / rel if rel else tree.root
        self.entries = tree.listing(rel)

    def file(self, name: str) -> Optional[Path]:
        """The path of ``name`` in this folder if it exists (a symlink only if it stays inside the root), else None."""
        entries = self.entries
        if entries is None:
            return None
        is_link = entries.get(name)
        if is_link is None or (is_link and not self.tree.exists(f"{self.rel}/{name}")):
            return None
        return _child(self.path, name)


class DatasetTree:
    """A dataset root with lexical path validation, symlink containment and cached folder listings.

    Args:
        root: the dataset root (``--data``).
        allow_symlinks_outside_root: follow symlinks whose target leaves the root (off by default).
    """

    def __init__(self, root: Path, allow_symlinks_outside_root: bool = False):
        self.root = Path(os.path.abspath(root))
        self.allow_symlinks_outside_root = allow_symlinks_outside_root
        self._real_root = os.path.realpath(self.root)
        self._listings: Dict[str, Optional[Dict[str, bool]]] = {}
        self._checked_dirs: Dict[str, bool] = {}
        self._folders: Dict[str, Folder] = {}

    def relative(self, name: str, source: Path, what: str) -> str:
        """Validate a path read from ``source`` and return it normalised (posix, relative to the root).

        Raises:
            DatasetFormatError: the path is absolute, empty, or escapes the root with ``..``.
        """
        if not isinstance(name, str) or not name:
            raise DatasetFormatError(f"{source}: {what} must be a non-empty relative path string, got {name!r}")
        if name.startswith(("/", "\\")) or os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
            raise DatasetFormatError(
                f"{source}: {what} {name!r} is an absolute path; dataset files may only name files inside the dataset "
                "root: fix or re-download the file"
            )
        # Fast path: most names contain neither '..' nor redundant separators.
        if ".." in name or "//" in name or "/./" in name or name.startswith("./"):
            name = posixpath.normpath(name)
            if name == ".." or name.startswith("../"):
                raise DatasetFormatError(
                    f"{source}: {what} {name!r} escapes the dataset root with '..'; fix or re-download the file"
                )
        return name

    def join_all(self, base: str, names: List[str], source: Path, what: str) -> List[str]:
        """``base/name`` for many names read from ``source``, each validated like :meth:`relative` (fast path first)."""
        out = []
        prefix = base + "/"
        for name in names:
            if (
                not name
                or name.startswith(("/", "\\"))
                or ".." in name
                or "./" in name
                or "//" in name
                or name[1:2] == ":"
            ):
                out.append(self.relative(posixpath.join(base, name) if name else "", source, what))
            else:
                out.append(prefix + name)
        return out

    def path(self, rel: str) -> Path:
        """The absolute path of a validated relative name."""
        return self.root / rel

    def folder(self, rel_dir: str) -> Folder:
        """The (cached) :class:`Folder` of a validated relative folder name."""
        folder = self._folders.get(rel_dir)
        if folder is None:
            folder = self._folders[rel_dir] = Folder(self, rel_dir)
        return folder

    def listing(self, rel_dir: str) -> Optional[Dict[str, bool]]:
        """``{entry name: is_symlink}`` of a folder (cached), or None when it does not exist.

        Raises:
            DatasetFormatError: the folder is a symlink that leaves the root (and that is not allowed).
        """
        if rel_dir in self._listings:
            return self._listings[rel_dir]
        full = os.path.join(self.root, rel_dir)
        entries: Optional[Dict[str, bool]] = None
        if os.path.isdir(full):
            self._check_inside(full, rel_dir)
            with os.scandir(full) as it:
                entries = {entry.name: entry.is_symlink() for entry in it}
        self._listings[rel_dir] = entries
        return entries

    def exists(self, rel: str) -> bool:
        """Whether a validated relative file exists (one listing per folder; symlinks checked for containment)."""
        rel_dir, name = posixpath.split(rel)
        entries = self.listing(rel_dir)
        if entries is None or name not in entries:
            return False
        if entries[name]:
            full = os.path.join(self.root, rel)
            self._check_inside(full, rel)
            return os.path.exists(full)
        return True

    def _check_inside(self, full: str, rel: str) -> None:
        """Refuse a path whose real location (after symlinks) is outside the root, unless allowed."""
        if self.allow_symlinks_outside_root or self._checked_dirs.get(full):
            return
        real = os.path.realpath(full)
        if real != self._real_root and not real.startswith(self._real_root + os.sep):
            raise DatasetFormatError(
                f"{self.root / rel}: is a symlink to {real}, outside the dataset root {self.root}; copy the data into "
                "the root or pass --allow-symlinks-outside-root True if you trust it"
            )
        self._checked_dirs[full] = True
