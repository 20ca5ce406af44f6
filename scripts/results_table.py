"""The README's results table, generated from a run's ns-eval JSON files (never copied by hand).

    python scripts/results_table.py --validation demo_outputs/eval_validation.json \
        --test demo_outputs/eval.json --test-all-views demo_outputs/eval_all_views.json [--readme README.md]

Prints a markdown table: one row per metric, one column per evaluation (the validation person that options were tuned
on, the test people nobody tuned on with the configured number of input views, and with every input camera), and the
target of each metric beside it; then one line per test person. With ``--readme`` it also replaces the table between
the README's ``<!-- results:start -->`` and ``<!-- results:end -->`` markers. ``make demo`` runs it at the end.
"""

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

START, END = "<!-- results:start -->", "<!-- results:end -->"
"""Markers around the generated block in README.md."""


@dataclass(frozen=True)
class Row:
    """One metric of the table."""

    label: str
    """What the row shows (the README's wording)."""
    key: str
    """ns-eval JSON key."""
    fmt: str
    """Format of the value."""
    target: str
    """The target, in words (empty: none)."""
    found_key: str = ""
    """For 3D errors: the key prefix whose ``_num_joints``/``_num_missing`` give "found / total"."""
    zero_key: str = ""
    """For errors with a do-nothing level: the key of that level (shown in brackets)."""


ROWS: Tuple[Row, ...] = (
    Row("PSNR in the box (dB)", "psnr", ".2f", ">= 28"),
    Row("SSIM", "ssim", ".3f", ">= 0.9"),
    Row("heatmap MSE (predicting 0)", "heatmap_mse", ".5f", "<= 40 % of predicting 0", zero_key="heatmap_mse_zero"),
    Row("PCK@0.2, shipped 2D keypoints", "pck", ".3f", ">= 0.9"),
    Row("PCK@0.2, each channel's peak (paper)", "pck_channels", ".3f", ">= 0.85"),
    Row("3D keypoints `mpjpe_3d` (mm, found)", "mpjpe_3d", ".0f", "<= 80 (3 views), <= 50 (all)", "mpjpe_3d"),
    Row(
        "volumetric 3D peaks (mm, found; paper 3.4)",
        "mpjpe_3d_volumetric",
        ".0f",
        "<= 80",
        "mpjpe_3d_volumetric",
    ),
    Row("CSE MSE (predicting the mean)", "cse_mse", ".4f", "well below the mean", zero_key="cse_mse_mean"),
    Row("CSE of one body point across views (MSE)", "cse_cross_view_mse", ".4f", "well below the mean"),
)
"""The rows, in order."""
PERSON_HEADER = "| test person | PSNR | SSIM | PCK@0.2 | PCK@0.2 per channel | `mpjpe_3d` (mm) | volumetric (mm) |"
"""Header of the per-person lines."""


def _cell(results: Dict[str, object], row: Row) -> str:
    value = results.get(row.key)
    if not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        return "-"
    text = format(float(value), row.fmt)
    if row.found_key:
        joints = float(results.get(f"{row.found_key}_num_joints") or 0.0)
        missing = float(results.get(f"{row.found_key}_num_missing") or 0.0)
        text += f" ({joints / max(joints + missing, 1.0):.0%})"
    zero = results.get(row.zero_key) if row.zero_key else None
    if isinstance(zero, (int, float)) and float(zero) > 0:
        text += f" ({format(float(zero), row.fmt)})"
    return text


def read_results(path: Path) -> Dict[str, object]:
    """The ``results`` of an ns-eval JSON file (a clear error for anything else)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise SystemExit(f"results_table: cannot read {path}: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise SystemExit(f"results_table: {path} is not an ns-eval JSON file (no 'results')")
    return data["results"]


def subjects_of(results: Dict[str, object]) -> List[str]:
    """The eval subjects of a result (its per-subject entries), or [] for a single subject."""
    per_subject = results.get("per_subject")
    return sorted(per_subject) if isinstance(per_subject, dict) else []


def make_table(columns: Sequence[Tuple[str, Dict[str, object]]], per_person: Optional[Dict[str, object]] = None) -> str:
    """The markdown table: rows = :data:`ROWS`, columns = ``(heading, ns-eval results)`` and the targets; then, from
    ``per_person`` (results with ``per_subject``), one line per test person."""
    header = "| metric | " + " | ".join(name for name, _ in columns) + " | target |"
    lines = [header, "|" + "---|" * (len(columns) + 2)]
    for row in ROWS:
        cells = [_cell(results, row) for _, results in columns]
        if all(c == "-" for c in cells):
            continue  # e.g. no CSE head
        lines.append(f"| {row.label} | " + " | ".join(cells) + f" | {row.target} |")
    if per_person is not None:
        people = per_person.get("per_subject")
        if isinstance(people, dict) and people:
            lines += ["", PERSON_HEADER, "|---|---|---|---|---|---|---|"]
            keys = [ROWS[0], ROWS[1], ROWS[3], ROWS[4], ROWS[5], ROWS[6]]
            for name in sorted(people):
                lines.append(f"| {name} | " + " | ".join(_cell(people[name], row) for row in keys) + " |")
    return "\n".join(lines)


def replace_block(text: str, table: str) -> str:
    """``text`` with the block between :data:`START` and :data:`END` replaced by ``table``."""
    if START not in text or END not in text or text.index(START) > text.index(END):
        raise SystemExit(f"results_table: the README has no '{START}' ... '{END}' block to replace")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--validation", type=Path, help="ns-eval JSON of the validation person")
    parser.add_argument("--test", type=Path, required=True, help="ns-eval JSON of the test people (configured views)")
    parser.add_argument("--test-all-views", type=Path, help="ns-eval JSON of the test people with every input camera")
    parser.add_argument("--views", default="3 views", help="how the configured setting is named in the headings")
    parser.add_argument("--readme", type=Path, help="replace the README's generated results block")
    args = parser.parse_args(argv)
    test = read_results(args.test)
    people = subjects_of(test)
    who = f"{len(people)} test people" if people else "test person"
    columns = []
    if args.validation is not None:
        columns.append((f"validation person, {args.views}", read_results(args.validation)))
    columns.append((f"{who}, {args.views}", test))
    if args.test_all_views is not None:
        columns.append((f"{who}, all input cameras", read_results(args.test_all_views)))
    table = make_table(columns, per_person=test)
    print(table)
    if args.readme is not None:
        args.readme.write_text(replace_block(args.readme.read_text(), table))
        print(f"results_table: updated {args.readme}")


if __name__ == "__main__":
    main()
