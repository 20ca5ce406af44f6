"""scripts/results_table.py: the README's results table is what the generator writes (same rows, same columns)."""

import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import results_table  # noqa: E402  (a script, not a package)


def _eval_json(path: Path, psnr: float, subjects=()) -> Path:
    results = {
        "psnr": psnr, "ssim": 0.9, "heatmap_mse": 0.0007, "heatmap_mse_zero": 0.0017, "pck": 0.8, "pck_channels": 0.8,
        "mpjpe_3d": 100.0, "mpjpe_3d_num_joints": 90.0, "mpjpe_3d_num_missing": 10.0, "mpjpe_3d_volumetric": 110.0,
        "mpjpe_3d_volumetric_num_joints": 100.0, "mpjpe_3d_volumetric_num_missing": 0.0, "cse_mse": 0.25,
        "cse_mse_mean": 0.42, "cse_cross_view_mse": 0.02,
    }  # fmt: skip
    if subjects:
        results["per_subject"] = {name: dict(results, psnr=psnr + i) for i, name in enumerate(subjects)}
    path.write_text(json.dumps({"results": results}))
    return path


def test_table_cells_hand_case(tmp_path: Path):
    test = _eval_json(tmp_path / "test.json", 30.0, subjects=("CoreView_395", "CoreView_396"))
    table = results_table.make_table([("test", results_table.read_results(test))], results_table.read_results(test))
    assert "| PSNR in the box (dB) | 30.00 | >= 28 |" in table
    assert "| heatmap MSE (predicting 0) | 0.00070 (0.00170) |" in table
    assert "| 3D keypoints `mpjpe_3d` (mm, found) | 100 (90%) |" in table  # 90 of 100 joints found
    assert "| CoreView_396 | 31.00 |" in table


def test_the_readme_table_is_the_generators_format(tmp_path: Path):
    """The README's block between the markers has the generator's header, metric rows and person table header; the
    figures in it come from a run (make demo), so only the format is compared."""
    readme = (REPO / "README.md").read_text()
    assert results_table.START in readme and results_table.END in readme
    block = readme.split(results_table.START, 1)[1].split(results_table.END, 1)[0].strip()
    test = _eval_json(tmp_path / "test.json", 30.0, subjects=("CoreView_395",))
    columns = [("validation person, 3 views", results_table.read_results(_eval_json(tmp_path / "val.json", 29.0))),
               ("4 test people, 3 views", results_table.read_results(test)),
               ("4 test people, all input cameras", results_table.read_results(test))]  # fmt: skip
    generated = results_table.make_table(columns, results_table.read_results(test))

    def shape(table: str):
        """Header lines verbatim, and every other row's label (first cell) and cell count."""
        rows = []
        for line in table.splitlines():
            if not line.startswith("|"):
                continue
            cells = [c.strip() for c in line.strip("|").split("|")]
            is_header = cells[0] in ("metric", "test person") or re.fullmatch(r"-+", cells[0])
            rows.append(line if is_header else (cells[0] if cells[0] != "" else "", len(cells)))
        return rows

    readme_rows, generated_rows = shape(block), shape(generated)
    metric_rows = [r for r in generated_rows if isinstance(r, tuple) and not r[0].startswith("CoreView")]
    assert [r for r in readme_rows if isinstance(r, str)] == [r for r in generated_rows if isinstance(r, str)]
    assert [r for r in readme_rows if isinstance(r, tuple) and not r[0].startswith("CoreView")] == metric_rows


def test_a_readme_without_the_markers_is_an_error():
    with pytest.raises(SystemExit, match="results:start"):
        results_table.replace_block("no table here", "| a |")
