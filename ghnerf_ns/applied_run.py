"""A trained run applied to a new capture (``ghnerf-apply``): the config.yml that ns-eval, ns-render, ns-viewer and
ghnerf-keypoints load to evaluate the run's checkpoints on people of another capture, without training.

Two pieces make a run's config read only the new capture:

* :class:`CaptureDataParserConfig` wraps the capture's own dataparser (``zju-mocap-data``, ...) configured so that
  its test split holds every subject to evaluate. nerfstudio's pipelines also build a *training* dataset at set-up
  (``ns-viewer`` even refuses to start without one: it draws its frustums), so the wrapper answers the train split
  with the **input cameras of those same test subjects** (as a training split would list them: targets = sources).
  Nothing is decoded for it and nothing is trained on it; it costs one index over paths and cameras, and it lets the
  viewer show the capture's rig. An empty train split would break the viewer, and the human dataparsers cannot put
  one subject in both of their own splits (RenderPeople splits by position in ``human_list.txt``).
* :class:`AppliedTrainerConfig` is nerfstudio's ``TrainerConfig`` whose base directory is the folder of the written
  config.yml (nerfstudio derives it from output_dir/experiment/method/timestamp, which cannot name an arbitrary
  folder). The checkpoint directory is the trained run's, as an absolute path.
"""

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple, Type

from nerfstudio.data.dataparsers.base_dataparser import DataParser, DataParserConfig, DataparserOutputs
from nerfstudio.engine.trainer import TrainerConfig
from nerfstudio.utils.rich_utils import CONSOLE
from rich.console import Console, RenderHook

from dataparsers.easymocap_dataparser import EasyMocapDataParserConfig, natural_key
from dataparsers.human_common import SOURCES_KEY, DatasetFormatError
from dataparsers.index_utils import make_outputs
from dataparsers.zju_mocap_dataparser import ZJUMocapDataParserConfig

CAPTURE_SPLIT = "test"
"""The capture dataparser's split that every split of an applied run reads."""
SEEN_IN_TRAINING_WARNING = "also train (their test cameras do not)"
"""Part of easymocap-data's warning that a test subject is in its own train split too, which it assumes when both
splits default to the same sequences; the applied run's train split is never trained on, so the warning is dropped."""


class _LineFilter(RenderHook):
    """Drops printed text that contains ``phrase``."""

    def __init__(self, phrase: str) -> None:
        self.phrase = phrase

    def process_renderables(self, renderables):
        return [r for r in renderables if self.phrase not in str(getattr(r, "plain", ""))]


@contextlib.contextmanager
def _without_lines(console: Console, phrase: str) -> Iterator[None]:
    console.push_render_hook(_LineFilter(phrase))
    try:
        yield
    finally:
        console.pop_render_hook()


@dataclass
class CaptureDataParserConfig(DataParserConfig):
    """A capture seen through its test split only: the test split is itself, the train split its input cameras."""

    _target: Type = field(default_factory=lambda: CaptureDataParser)
    data: Path = Path(".")
    """The capture's folder (handed to the wrapped dataparser)."""
    capture: DataParserConfig = field(default_factory=ZJUMocapDataParserConfig)
    """The capture's own dataparser, configured so that its test split holds every subject to evaluate."""


class CaptureDataParser(DataParser):
    """See :class:`CaptureDataParserConfig`."""

    config: CaptureDataParserConfig

    def __init__(self, config: CaptureDataParserConfig):
        super().__init__(config=config)
        config.capture.data = config.data
        self.capture = config.capture.setup()
        self._test: Optional[DataparserOutputs] = None

    def _generate_dataparser_outputs(self, split: str = "train", **kwargs: Optional[Dict]) -> DataparserOutputs:
        if self._test is None:  # parsed once for both splits (the datamanager asks for train, then test)
            with _without_lines(CONSOLE, SEEN_IN_TRAINING_WARNING):
                self._test = self.capture.get_dataparser_outputs(split=CAPTURE_SPLIT)
        if split != "train":
            return self._test
        sources = self._test.metadata[SOURCES_KEY]
        where = f"{self.config.data} (input cameras of the test subjects; never trained on)"
        return make_outputs(sources, sources, self._test.mask_filenames is not None, "train", where)


@dataclass
class AppliedTrainerConfig(TrainerConfig):
    """A trained run's config pointed at another capture; its base directory is :attr:`applied_dir`."""

    applied_dir: Path = Path(".")
    """Folder of this config.yml (where ns-viewer writes its log and where the viewer's render panel finds the
    config); the checkpoints stay in the trained run (``relative_model_dir`` is absolute)."""

    def get_base_dir(self) -> Path:
        return self.applied_dir


def capture_subjects(config: DataParserConfig, data: Path) -> Optional[Tuple[List[str], str]]:
    """(every subject of the capture ``data``, the layout rule that found them) for the dataparsers that choose their
    test subjects by name (ZJU-MoCap, EasyMocap), mirroring how each parser finds its subjects; None for others."""
    if not data.is_dir():
        raise DatasetFormatError(f"{data}: capture folder not found; pass the folder that holds the subjects as --data")
    if isinstance(config, ZJUMocapDataParserConfig):
        found = sorted(p.name for p in data.iterdir() if p.is_dir() and (p / "annots.npy").is_file())
        return found, "sub-folders holding an annots.npy (ZJU-MoCap layout)"
    if isinstance(config, EasyMocapDataParserConfig):
        if (data / "intri.yml").is_file():  # one sequence
            return [data.name], "intri.yml"
        found = sorted((p.name for p in data.iterdir() if (p / "intri.yml").is_file()), key=natural_key)
        return found, "an intri.yml at its root or in sub-folders (EasyMocap layout)"
    return None
