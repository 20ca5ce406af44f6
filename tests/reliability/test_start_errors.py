"""Bad datasets and options stop a run at start with one clear message (file or option, what is wrong, the fix).

Most cases go through the datamanager in-process (parsing is what fails, and each ns-train start costs 10-15 s); a
representative few go through the real ``ns-train`` CLI to prove the whole path: one message, non-zero exit, no Python
traceback unless GHNERF_DEBUG asks for it.
"""

import json
import shutil
import socket
import sys
import threading
from pathlib import Path
from typing import List

import numpy as np
import pytest

from dataparsers.human_common import DatasetFormatError
from ghnerf_ns.runtime.user_errors import DEBUG_ENV, GHNeRFConfigError, _hook
from ghnerf_ns.synth import RenderPeopleSynthConfig, write_renderpeople
from tests.reliability.helpers import ns_train_args, run_cli, tiny_method_config


def _edit_annots(root: Path, subject: str, edit) -> None:
    path = root / subject / "annots.npy"
    annots = np.load(path, allow_pickle=True).item()
    annots = edit(annots)
    np.save(path, annots, allow_pickle=True)


def _save_object(path: Path, value) -> None:
    holder = np.empty((), dtype=object)
    holder[()] = value
    np.save(path, holder, allow_pickle=True)


def _drop_camera(annots):
    for key in ("K", "R", "T", "D"):
        annots["cams"][key] = list(annots["cams"][key])[:-1]
    return annots


def _set_cam(key, index, value):
    def edit(annots):
        matrices = [np.array(m, dtype=np.float64) for m in annots["cams"][key]]
        matrices[1][index] = value
        annots["cams"][key] = matrices
        return annots

    return edit


def _bad_kpts(annots):
    annots["ims"][0]["kpts2d"] = np.zeros((6, 18, 3))
    return annots


def _remove_masks(root: Path) -> None:
    for name in ("mask", "mask_cihp"):
        shutil.rmtree(root / "CoreView_377" / name, ignore_errors=True)


# (id, how to damage the dataset, dataparser option overrides, expected parts of the message)
DATASET_CASES = [
    ("missing_annots", lambda r: (r / "CoreView_377" / "annots.npy").unlink(), {},
     ["CoreView_377/annots.npy", "not found"]),
    ("annots_plain_array", lambda r: np.save(r / "CoreView_377" / "annots.npy", np.array([1, 2, 3])), {},
     ["CoreView_377/annots.npy", "expected a pickled Python object"]),
    ("annots_not_dict", lambda r: _save_object(r / "CoreView_377" / "annots.npy", [1, 2, 3]), {},
     ["CoreView_377/annots.npy", "expected a dict", "re-download"]),
    ("annots_cameras_do_not_match_images", lambda r: _edit_annots(r, "CoreView_377", _drop_camera), {},
     ["CoreView_377/annots.npy", "6 images but annots['cams'] has 5 cameras"]),
    ("nan_in_K", lambda r: _edit_annots(r, "CoreView_377", _set_cam("K", (0, 0), np.nan)), {},
     ["CoreView_377/annots.npy", "NaN or inf", "fix the calibration"]),
    ("inf_in_T", lambda r: _edit_annots(r, "CoreView_377", _set_cam("T", (0,), np.inf)), {},
     ["CoreView_377/annots.npy", "NaN or inf"]),
    ("singular_R", lambda r: _edit_annots(r, "CoreView_377", _set_cam("R", (2,), 0.0)), {},
     ["CoreView_377/annots.npy", "camera 1: R is not a rotation"]),
    ("kpts2d_wrong_shape", lambda r: _edit_annots(r, "CoreView_377", _bad_kpts), {},
     ["CoreView_377/annots.npy", "kpts2d has shape (6, 18, 3), expected (6, 25, 3)"]),
    ("no_train_subject_present", lambda r: None, {"train_subjects": ("999", "998")},
     ["none of the train subjects", "CoreView_999", "--train-subjects"]),
    ("empty_split", lambda r: None, {"eval_frames": (5, 9, 1)},
     ["split is empty", "check the warnings above"]),
    ("masks_missing_for_a_subject", _remove_masks, {},
     ["CoreView_377: no foreground masks found", "--mask-folder none"]),
]  # fmt: skip


@pytest.mark.parametrize("damage,overrides,expected", [c[1:] for c in DATASET_CASES], ids=[c[0] for c in DATASET_CASES])
def test_bad_dataset_stops_the_datamanager_with_one_clear_message(damaged_copy, damage, overrides, expected):
    root = damaged_copy()
    damage(root)
    config = tiny_method_config(root)
    for key, value in overrides.items():
        setattr(config.pipeline.datamanager.dataparser, key, value)
    with pytest.raises(DatasetFormatError) as err:
        config.pipeline.datamanager.setup(device="cpu", test_mode="val")
    message = str(err.value)
    for part in expected:
        assert part in message, f"{part!r} not in: {message}"
    assert "\n" not in message


def test_some_subjects_missing_is_a_warning_not_an_error(synth_zju: Path, capsys):
    config = tiny_method_config(synth_zju)
    config.pipeline.datamanager.dataparser.train_subjects = ("313", "377", "999")
    dm = config.pipeline.datamanager.setup(device="cpu", test_mode="val")
    assert dm.train_targets.subjects == ["CoreView_313", "CoreView_377"]
    assert any("train subject CoreView_999 not found" in line for line in dm.skip_report.parse_warnings)


def test_resolution_not_a_multiple_of_32_names_the_option(synth_zju: Path):
    config = tiny_method_config(synth_zju)
    config.pipeline.datamanager.resolution = 100
    with pytest.raises(GHNeRFConfigError, match=r"--pipeline.datamanager.resolution 100 .* use e.g. 96"):
        config.pipeline.datamanager.setup(device="cpu", test_mode="val")


def test_excepthook_prints_one_message_and_debug_restores_the_traceback(monkeypatch, capsys):
    seen = []
    hook = _hook(lambda *args: seen.append(args))
    error = DatasetFormatError("/data/x/annots.npy: annots.npy not found; fix it")
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    hook(DatasetFormatError, error, None)
    err = capsys.readouterr().err
    assert "ghnerf_ns error: /data/x/annots.npy: annots.npy not found; fix it" in err and not seen
    hook(KeyError, KeyError("x"), None)  # not a user error: default hook
    assert len(seen) == 1
    monkeypatch.setenv(DEBUG_ENV, "1")
    hook(DatasetFormatError, error, None)
    assert len(seen) == 2 and sys.excepthook is not None


# ------------------------------------------------------------------------------------------------- the real CLI
def _assert_one_clear_line(proc, *parts: str) -> None:
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "Traceback (most recent call last)" not in text, text[-3000:]
    for part in parts:
        assert part in text, f"{part!r} not in output:\n{text[-3000:]}"


@pytest.fixture(scope="module")
def synth_rp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rel_rp") / "rp"
    write_renderpeople(RenderPeopleSynthConfig(out=out, num_subjects=3, frames=2, cameras=4, resolution=64, seed=0))
    return out


@pytest.mark.slow
def test_cli_missing_annots(damaged_copy, tmp_path: Path):
    root = damaged_copy()
    (root / "CoreView_377" / "annots.npy").unlink()
    proc = run_cli(ns_train_args(root, tmp_path / "out", 2), cwd=tmp_path)
    _assert_one_clear_line(proc, "ghnerf_ns error:", "CoreView_377/annots.npy: annots.npy not found", "GHNERF_DEBUG=1")
    # GHNERF_DEBUG=1 gives developers the traceback back.
    proc = run_cli(ns_train_args(root, tmp_path / "out", 2), cwd=tmp_path, env={"GHNERF_DEBUG": "1"})
    assert proc.returncode != 0 and "Traceback (most recent call last)" in proc.stderr


@pytest.mark.slow
def test_cli_renderpeople_cameras_json_missing_a_camera(synth_rp: Path, tmp_path: Path):
    root = tmp_path / "rp"
    shutil.copytree(synth_rp, root)
    subject = sorted(p for p in root.iterdir() if p.is_dir())[0]
    cameras = json.loads((subject / "cameras.json").read_text())
    cameras.pop(sorted(cameras)[-1])
    (subject / "cameras.json").write_text(json.dumps(cameras))
    args = ["ns-train", "ghnerf-tiny", "--data", str(root), "--output-dir", str(tmp_path / "out"), "--vis",
            "tensorboard", "--pipeline.datamanager.resolution", "64", "renderpeople-data"]  # fmt: skip
    proc = run_cli(args, cwd=tmp_path)
    _assert_one_clear_line(
        proc, "ghnerf_ns error:", "cameras.json: cameras camera0003 have images in img/ but no calibration"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra,parts",
    [
        (["--pipeline.model.human-encoder.name", "foo"],
         ["invalid choice 'foo'", "--pipeline.model.human-encoder.name", "dino_vits8", "resnet18"]),
        (["--pipeline.datamanager.resolution", "100"],
         ["ghnerf_ns error:", "--pipeline.datamanager.resolution 100 is not a positive multiple of 32", "use e.g. 96"]),
    ],
    ids=["unknown_encoder", "resolution_100"],
)  # fmt: skip
def test_cli_bad_options(synth_zju: Path, tmp_path: Path, extra, parts):
    # ``extra`` comes after the helper's own --pipeline.datamanager.resolution 64: the last value wins.
    proc = run_cli(ns_train_args(synth_zju, tmp_path / "out", 2, extra=extra), cwd=tmp_path)
    _assert_one_clear_line(proc, *parts)


class _RefusingProxy:
    """A local HTTP(S) proxy standing for an offline network: it records the request line of each connection and
    closes it without an answer, so every download through it fails at once."""

    def __init__(self) -> None:
        self.requests: List[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True, name="refusing-proxy").start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:  # closed
                return
            with conn:
                conn.settimeout(300)
                try:
                    self.requests.append(conn.recv(4096).split(b"\r\n")[0].decode(errors="replace"))
                except OSError as err:
                    self.requests.append(f"(no request line: {err})")

    def close(self) -> None:
        try:
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the serving thread (close alone may not)
        except OSError:
            pass
        self._server.close()


@pytest.mark.slow
def test_cli_pretrained_weights_unavailable_offline_is_fast_and_clear(synth_zju: Path, tmp_path: Path):
    # "Fast" is a count, not a clock: the run gives up after one download attempt (no retries, no second source),
    # which the proxy sees; a hang would end in run_cli's timeout instead of a message.
    proxy = _RefusingProxy()
    offline = {name: proxy.url for name in ("https_proxy", "http_proxy", "HTTPS_PROXY", "HTTP_PROXY")}
    offline["TORCH_HOME"] = str(tmp_path / "empty_torch_home")
    args = ns_train_args(synth_zju, tmp_path / "out", 2, extra=["--machine.device-type", "cpu"], method="ghnerf")
    try:
        proc = run_cli(args, cwd=tmp_path, env=offline, timeout=600)
    finally:
        proxy.close()
    _assert_one_clear_line(
        proc, "ghnerf_ns error:", "'dino_vits8'", "human-encoder.pretrained False", "download failed"
    )
    assert len(proxy.requests) == 1 and proxy.requests[0].startswith("CONNECT "), proxy.requests
