"""What a run skipped or masked, and why: counted, with the first few paths, in the log and in the run folder.

Two sources feed one :class:`SkipReport`:

- parse time: the dataparsers print one warning line per subject and reason (``warn_skipped`` in
  ``dataparsers/index_utils.py``); :func:`capture_console_lines` records what nerfstudio's console prints while the
  dataparser runs (a rich render hook: nothing is hidden from the user), and :func:`parse_skip_warnings` turns the
  "N of M images skipped (why): a, b, c" lines into counts. dataparsers/ must not import ghnerf_ns, so the line
  format is the interface (pinned by tests/reliability/test_skip_report.py).
- training time: DataLoader workers attach a small ``{reason: [path, ...]}`` dict to each sample
  (:data:`ISSUES_KEY`); the datamanager merges it here in the main process.

The report is written as ``<run dir>/data_report.json`` (:data:`REPORT_FILENAME`).
"""

import contextlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Sequence

from rich.console import Console, RenderHook

REPORT_FILENAME = "data_report.json"
"""File name of the report inside the run's output folder (beside config.yml)."""

ISSUES_KEY = "data_issues"
"""Key of the ``{reason: [path, ...]}`` dict a training sample carries from its worker."""

UNREADABLE_IMAGE = "unreadable image or mask (sample replaced)"
"""Reason: a file in the index could not be decoded while training (truncated/corrupt JPEG, bad mask)."""

OPENPOSE_NO_PERSON = "OpenPose JSON without a person (joints masked)"
"""Reason: a keypoint JSON lists no confident person; the image's joints are masked out of the heatmap loss."""

TOO_FEW_SOURCES = "too few source views in the frame (sample replaced)"
"""Reason: skipped images left a target's frame with fewer other input cameras than the source views it needs."""

MAX_EXAMPLES = 5
"""Paths kept (and logged) per reason."""

_SKIP_LINE = re.compile(
    r"Warning: (?P<subject>.+?): (?P<count>\d+) of (?P<total>\d+) images skipped \((?P<why>[^)]*)\): (?P<examples>.*)$"
)


@dataclass
class ReasonCount:
    """One reason: distinct files, how often they were hit, and the first few of them."""

    files: int = 0
    """Distinct files (parse time: images skipped)."""
    occurrences: int = 0
    """Times a sample hit the problem (training time: the same broken file can be drawn many times)."""
    examples: List[str] = field(default_factory=list)
    """The first :data:`MAX_EXAMPLES` paths."""


@dataclass
class SkipReport:
    """Counts of skipped or masked data by reason, separately for parse time and training time."""

    parse_time: Dict[str, ReasonCount] = field(default_factory=dict)
    """Images left out of the index by the dataparser, by reason (summed over subjects and splits)."""
    training_time: Dict[str, ReasonCount] = field(default_factory=dict)
    """Problems met while decoding samples, by reason."""
    parse_warnings: List[str] = field(default_factory=list)
    """Every warning line the dataparser printed, verbatim."""
    images_used: Dict[str, int] = field(default_factory=dict)
    """Images in each split's index after parsing (``train``, ``eval``)."""
    _seen: Dict[str, set] = field(default_factory=dict, repr=False)

    def add_parse_warnings(self, lines: Sequence[str]) -> None:
        """Record dataparser warning lines and count the "images skipped" ones."""
        self.parse_warnings.extend(line for line in lines if "Warning" in line)
        for why, count, examples in parse_skip_warnings(lines):
            entry = self.parse_time.setdefault(why, ReasonCount())
            entry.files += count
            entry.occurrences += count
            entry.examples.extend(examples[: MAX_EXAMPLES - len(entry.examples)])

    def add_issue(self, reason: str, path: str) -> bool:
        """Count one training-time problem; True when ``path`` is new for this reason and among the first few
        (the caller logs those)."""
        entry = self.training_time.setdefault(reason, ReasonCount())
        entry.occurrences += 1
        seen = self._seen.setdefault(reason, set())
        if path in seen:
            return False
        seen.add(path)
        entry.files += 1
        if len(entry.examples) < MAX_EXAMPLES:
            entry.examples.append(path)
            return True
        return False

    def merge_sample_issues(self, issues: Mapping[str, Sequence[str]]) -> List[str]:
        """Merge one sample's ``{reason: [path, ...]}``; returns the log lines for the newly seen examples."""
        lines = []
        for reason, paths in issues.items():
            for path in paths:
                if self.add_issue(reason, path):
                    lines.append(f"{reason}: {path}")
        return lines

    def summary(self) -> str:
        """One line: images used and what was skipped or masked, by reason."""
        used = ", ".join(f"{n} {split}" for split, n in self.images_used.items()) or "unknown"
        parts = [f"{r.files} {why}" for why, r in self.parse_time.items()]
        parts += [f"{r.files} files {why}" for why, r in self.training_time.items()]
        return f"images used: {used}; skipped/masked: " + ("; ".join(parts) if parts else "none")

    def to_dict(self) -> Dict[str, object]:
        def table(counts: Dict[str, ReasonCount]) -> Dict[str, Dict[str, object]]:
            return {
                why: {"files": r.files, "occurrences": r.occurrences, "examples": r.examples}
                for why, r in counts.items()
            }

        return {
            "images_used": dict(self.images_used),
            "parse_time": table(self.parse_time),
            "training_time": table(self.training_time),
            "parse_warnings": list(self.parse_warnings),
            "summary": self.summary(),
        }

    def write(self, path: Path) -> None:
        """Write the report as JSON (atomically: a reader never sees half a file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2))
        tmp.replace(path)


def parse_skip_warnings(lines: Sequence[str]) -> List[tuple]:
    """``(reason, count, examples)`` of each dataparser "N of M images skipped (reason): a, b" line."""
    out = []
    for line in lines:
        match = _SKIP_LINE.search(line.strip())
        if match is None:
            continue
        examples = [e.strip() for e in match["examples"].split(", ") if e.strip() and e.strip() != "..."]
        out.append((match["why"], int(match["count"]), examples))
    return out


class _LineRecorder(RenderHook):
    """Records the plain text of every renderable printed, and passes it on unchanged."""

    def __init__(self) -> None:
        self.lines: List[str] = []

    def process_renderables(self, renderables):
        for item in renderables:
            plain = getattr(item, "plain", None)
            if isinstance(plain, str):
                self.lines.extend(plain.splitlines())
        return renderables


@contextlib.contextmanager
def capture_console_lines(console: Console) -> Iterator[List[str]]:
    """Collect the plain text lines ``console`` prints inside the block (they are still printed)."""
    recorder = _LineRecorder()
    console.push_render_hook(recorder)
    try:
        yield recorder.lines
    finally:
        console.pop_render_hook()
