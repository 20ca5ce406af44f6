"""Pieces shared by the ZJU-MoCap and RenderPeople writers: option checks and the progress bar."""

import re
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

MIN_RESOLUTION = 32


def check_common(
    option_prefix: str, resolution: int, cameras: int, frames: int, cse_dim: int, cse_downscale: int, jpeg_quality: int
) -> None:
    """Clear errors for out-of-range options shared by both writers (``option_prefix`` names the frame option)."""
    if resolution < MIN_RESOLUTION:
        raise ValueError(f"--resolution must be at least {MIN_RESOLUTION} pixels (got {resolution}).")
    if cameras < 2:
        raise ValueError(f"--cameras must be at least 2 (multi-view data; got {cameras}).")
    if frames < 1:
        raise ValueError(f"--{option_prefix} must be at least 1 (got {frames}).")
    if cse_dim < 1:
        raise ValueError(f"--cse-dim must be at least 1 (got {cse_dim}).")
    if not 1 <= cse_downscale <= resolution:
        raise ValueError(f"--cse-downscale must be between 1 and the resolution (got {cse_downscale}).")
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f"--jpeg-quality must be between 1 and 100 (got {jpeg_quality}).")


def check_subject_ids(subjects: Sequence[str]) -> None:
    """Subject ids become folder names (``CoreView_<id>``): non-empty, unique, letters/digits/``_``/``-`` only."""
    if len(subjects) == 0:
        raise ValueError("--subjects needs at least one subject id (e.g. --subjects 313 386).")
    for sid in subjects:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", sid):
            raise ValueError(f"subject id {sid!r} is not usable as a folder name: use letters, digits, '_' or '-'.")
    if len(set(subjects)) != len(subjects):
        raise ValueError(f"--subjects has duplicates: {list(subjects)}")


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
