"""benchmarks/paper_table.py without training: its ns-train command lines, the table, the settings line read from the
data, and the doc block it replaces. (The script itself trains each paper preset for minutes; it is not run here.)"""

from pathlib import Path

import pytest

from tests.script_modules import REPO, script_module


@pytest.fixture(scope="module")
def pt():
    with script_module("benchmarks/paper_table.py") as module:
        yield module


def test_defaults_follow_the_demo_protocol(pt):
    opts = pt.parse(["--work-dir", "/tmp/x"])
    assert opts.train_subjects == [*(str(s) for s in range(301, 314)), "377", "390"]
    assert opts.val_subjects == ["386"] and opts.test_subjects == ["395", "396", "397", "398"]
    assert (opts.resolution, opts.budget_min, opts.eval_frames, opts.min_steps) == (128, 6.0, [0, 8, 4], 100)
    assert opts.methods == ["enerf-heatmap", "ghnerf-resnet18", "ghnerf-resnet34", "ghnerf"]
    assert pt._people(opts.train_subjects) == "301..313 377 390"


def test_train_args_keep_the_presets_settings(pt):
    opts = pt.parse(["--work-dir", "/tmp/x", "--weights", "ghnerf=/w/dino.pth"])
    shared = {"--pipeline.datamanager.resolution", "--pipeline.datamanager.num-workers",
              "--pipeline.model.loss.perceptual-weight", "--pipeline.datamanager.train-num-rays-per-batch",
              "--pipeline.datamanager.num-patches", "--pipeline.model.human-encoder.name",
              "--pipeline.model.human-encoder.pretrained", "--pipeline.model.human-encoder.weights-path"}  # fmt: skip
    for variant in pt.VARIANTS:
        args = pt.train_args(variant, Path("/data"), Path("/out"), 50, opts)
        assert args[:2] == ["ns-train", variant.method]
        model_options = {a for a in args if a.startswith("--pipeline.")}
        assert model_options <= shared, model_options - shared  # nothing of ghnerf-tiny's leaks in
        parser = args[args.index("zju-mocap-data") :]
        assert parser[parser.index("--val-subjects") + 1] == "386"
        assert parser[-4:] == ["--eval-frames", "0", "8", "4"]
        if variant.encoder is None:
            assert "--pipeline.model.human-encoder.name" not in args
        else:
            assert args[args.index("--pipeline.model.human-encoder.name") + 1] == variant.encoder
            start = "weights-path" if variant.key == "ghnerf" else "pretrained"
            assert f"--pipeline.model.human-encoder.{start}" in args


def test_table_rows_and_the_paper_column(pt):
    results = {"psnr": 28.14, "ssim": 0.87, "heatmap_mse": 0.001, "heatmap_mse_zero": 0.002, "pck": 0.8,
               "pck_channels": 0.545, "mpjpe_3d": 155.2, "mpjpe_3d_num_joints": 45.0, "mpjpe_3d_num_missing": 5.0,
               "mpjpe_3d_volumetric": None, "mpjpe_3d_volumetric_num_joints": 0.0,
               "mpjpe_3d_volumetric_num_missing": 50.0}  # fmt: skip
    rows = [
        pt.Row(pt.BY_KEY["ghnerf-resnet18"], 0.5, 20.0, 600, 360.0, results, 2),
        pt.Row(pt.BY_KEY["ghnerf"], 9.0, 30.0, 36),
    ]
    lines = pt.table(rows, 100, 6.0).splitlines()
    assert "LPIPS" not in lines[0] and lines[0].count("|") == lines[2].count("|") == lines[3].count("|")
    cells = [c.strip() for c in lines[2].split("|")[1:-1]]
    assert cells == ["ghnerf-resnet (ResNet18)", "28.14", "0.870", "0.00100 (0.00200)", "0.545",
                     "155 (90% found)", "n/a (0% found)", "600", "0.50", "360", "0.573"]  # fmt: skip
    assert "does not fit the budget: 36 steps in 6 min < --min-steps 100" in lines[3]
    assert lines[3].rstrip(" |").endswith("0.691") and "| 9.00 |" in lines[3]
    results["lpips"] = 0.1
    assert "LPIPS" in pt.table(rows, 100, 6.0).splitlines()[0]
    rows[0].seconds = 100.0  # far off the 6-minute budget: marked
    assert "| 100 ² |" in pt.table(rows, 100, 6.0).splitlines()[2]


def test_settings_line_reads_the_cameras_from_the_data(pt, tmp_path):
    from ghnerf_ns.synth import ZJUSynthConfig, write_zju

    write_zju(ZJUSynthConfig(out=tmp_path, subjects=("301", "395"), frames=2, cameras=8, resolution=32, seed=0))
    facts = pt.data_facts(tmp_path, ["301", "395"])
    assert facts == {"cameras": "8", "frames": "2", "inputs": 4, "tests": 4, "synthetic": True}
    opts = pt.parse(["--work-dir", str(tmp_path), "--train-subjects", "301", "--test-subjects", "395"])
    rows = [pt.Row(pt.BY_KEY["enerf-heatmap"], 1.0, 1.0, 300, 360.0, {}, 2)]
    line = pt.settings_line(opts, tmp_path, facts, rows)
    assert "8 cameras per person (4 input cameras, 4 test views)" in line
    assert "2 source views per prediction" in line and "validation person 386" in line


def test_demo_data_is_reused_only_with_the_tables_frames(pt, tmp_path, monkeypatch):
    from ghnerf_ns.synth import ZJUSynthConfig, write_zju

    demo = tmp_path / "demo"
    write_zju(ZJUSynthConfig(out=demo, subjects=("301", "386", "395"), frames=2, cameras=4, resolution=32, seed=0))
    people = ["--train-subjects", "301", "--val-subjects", "386", "--test-subjects", "395"]
    two_frames = pt.parse(["--work-dir", str(tmp_path), *people, "--synth-frames", "2"])
    default = pt.parse(["--work-dir", str(tmp_path), *people])
    monkeypatch.setattr(pt, "DEMO_DATA", demo)
    written = []
    monkeypatch.setattr(pt, "run", lambda args, cwd, log: written.append(args) or 0.0)
    assert pt.find_data(two_frames, tmp_path) == demo and written == []
    # The demo writes fewer frames than the table evaluates: its people are written again with --synth-frames.
    assert pt.find_data(default, tmp_path) == tmp_path / "zju_synth"
    assert written[0][:2] == ["ghnerf-synth", "zju"] and written[0][written[0].index("--frames") + 1] == "8"


def test_doc_block_is_replaced(pt):
    text = f"# Doc\n\nbefore\n{pt.START}\nold\n{pt.END}\nafter\n"
    assert pt.replace_block(text, "new", "doc") == f"# Doc\n\nbefore\n{pt.START}\nnew\n{pt.END}\nafter\n"
    with pytest.raises(SystemExit):
        pt.replace_block("no markers", "new", "doc")
    docs = (REPO / "docs" / "methods.md").read_text()
    assert docs.count(pt.START) == 1 and docs.count(pt.END) == 1
