"""Pieces shared by the ghnerf-synth writers: option checks, subject ids and the progress bar.

Every subcommand names its people the same way: ``--subjects`` takes ids (strings; each id, with ``--seed``, fixes a
person and names its folder in the layout's own scheme) and ``--num-subjects N`` is a count, short for the numbered ids
0..N-1. :func:`subject_ids` applies that rule for all of them.
"""

import re
from contextlib import contextmanager
from typing import Callable, Iterator, List, Optional, Sequence

MIN_RESOLUTION = 32


def check_common(
    resolution: int, cameras: int, frames: int, cse_dim: int, cse_downscale: int, jpeg_quality: int
) -> None:
    """Clear errors for out-of-range options shared by every writer."""
    if resolution < MIN_RESOLUTION:
        raise ValueError(f"--resolution must be at least {MIN_RESOLUTION} pixels (got {resolution}).")
    if cameras < 2:
        raise ValueError(f"--cameras must be at least 2 (multi-view data; got {cameras}).")
    if frames < 1:
        raise ValueError(f"--frames must be at least 1 (got {frames}).")
    if cse_dim < 1:
        raise ValueError(f"--cse-dim must be at least 1 (got {cse_dim}).")
    if not 1 <= cse_downscale <= resolution:
        raise ValueError(f"--cse-downscale must be between 1 and the resolution (got {cse_downscale}).")
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f"--jpeg-quality must be between 1 and 100 (got {jpeg_quality}).")


def check_subject_ids(subjects: Sequence[str], folder_prefix: Optional[str] = None) -> None:
    """Subject ids become parts of folder names: non-empty, unique, letters/digits/``_``/``-`` only, and (where the
    folder is ``folder_prefix + id``) not already a folder name."""
    if len(subjects) == 0:
        raise ValueError("--subjects needs at least one subject id (e.g. --subjects 313 386), or use --num-subjects N.")
    for sid in subjects:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", sid):
            raise ValueError(
                f"--subjects: id {sid!r} is not usable in a folder name; use only letters, digits, '_' or '-'."
            )
        # "CoreView_313" would become the folder CoreView_CoreView_313, which no dataparser default finds.
        if folder_prefix and sid.startswith(folder_prefix) and len(sid) > len(folder_prefix):
            raise ValueError(
                f"--subjects takes ids, not folder names: pass {sid[len(folder_prefix) :]} for the folder {sid}."
            )
    if len(set(subjects)) != len(subjects):
        raise ValueError(f"--subjects has duplicates: {list(subjects)}; give each id once.")


def subject_ids(
    subjects: Sequence[str],
    num_subjects: Optional[int],
    default_subjects: Sequence[str],
    id_digits: int,
    folder_prefix: Optional[str] = None,
) -> List[str]:
    """The ids to write: ``--subjects``, or with ``--num-subjects N`` the numbered ids 0..N-1 zero-padded to
    ``id_digits`` (the width of the layout's default ids, so numbered folders look like the default ones).

    ``--subjects`` cannot be told apart from its default once parsed, so both options together are an error only when
    ``--subjects`` differs from ``default_subjects``.
    """
    if num_subjects is not None:
        if tuple(subjects) != tuple(default_subjects):
            raise ValueError("give either --subjects (ids) or --num-subjects (a count), not both.")
        if num_subjects < 1:
            raise ValueError(f"--num-subjects must be at least 1 (got {num_subjects}).")
        return [f"{i:0{id_digits}d}" for i in range(num_subjects)]
    check_subject_ids(subjects, folder_prefix)
    return list(subjects)


@contextmanager
def progress_bar(total: int, description: str, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A rich progress bar over ``total`` images; yields ``advance(n)``."""
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)
