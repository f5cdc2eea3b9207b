"""Progress bars: drawn on a terminal or in a notebook, silent in logs and captured output."""

from __future__ import annotations

import io
import logging
import sys
import types

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib.train import fit
from course_lib.utils import PROGRESS_ENV, progress, progress_enabled


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def automatic(monkeypatch):
    """Bars in automatic mode (the test suite turns them off through the environment)."""
    monkeypatch.delenv(PROGRESS_ENV, raising=False)


def drawn(stream: io.StringIO, **kwargs) -> str:
    assert list(progress(range(30), desc="epoch", file=stream, **kwargs)) == list(range(30))
    return stream.getvalue()


def test_bars_show_on_a_terminal_and_nowhere_else(automatic):
    assert "epoch" in drawn(Terminal())
    assert drawn(io.StringIO()) == ""  # a log file or a pipe: not one bar line
    assert drawn(Terminal(), enabled=False) == "" and "epoch" in drawn(io.StringIO(), enabled=True)


def test_the_environment_turns_bars_off_or_on_everywhere(monkeypatch):
    monkeypatch.setenv(PROGRESS_ENV, "off")
    assert drawn(Terminal()) == ""
    monkeypatch.setenv(PROGRESS_ENV, "1")
    assert "epoch" in drawn(io.StringIO())
    monkeypatch.setenv(PROGRESS_ENV, "maybe")
    with pytest.raises(ValueError, match="expected 0 or 1"):
        progress_enabled()


def test_bars_show_in_a_notebook_kernel(automatic, monkeypatch):
    shell = types.SimpleNamespace(config={"IPKernelApp": {}})
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert progress_enabled(stream=io.StringIO())
    shell.config = {}  # a terminal IPython: only a real terminal shows bars
    assert not progress_enabled(stream=io.StringIO())


def test_training_logs_one_line_per_epoch_and_no_bar(automatic, caplog, capfd):
    torch.manual_seed(0)
    images, labels = torch.randn(32, 4), torch.arange(32) % 2
    loader = DataLoader(TensorDataset(images, labels), batch_size=4)
    model = nn.Sequential(nn.Linear(4, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with caplog.at_level(logging.INFO, logger="course_lib"):
        fit(model, {"train": loader, "val": loader}, epochs=3, optimizer=optimizer, topk=(1,))
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        f"epoch {n} (train)" for n in (1, 2, 3)
    ]
    assert capfd.readouterr().err == ""  # stderr is captured, not a terminal: no bar lines
