"""``python -m course_lib``: each pipeline command on a small synthetic Tiny ImageNet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_lib.__main__ import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tiny_imagenet, tmp_path_factory):
    """A one-epoch-per-stage run of the demo transfer recipe, through the command line."""
    run = tmp_path_factory.mktemp("cli") / "run"
    args = ["train", "--config", "transfer_demo", "--data", str(tiny_imagenet), "--epochs", "1"]
    assert main([*args, "--out", str(run), "--device", "cpu"]) == 0
    return run / "checkpoints" / "last.pt"


def summary(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_train_writes_a_run_folder(trained, capsys):
    run = trained.parent.parent
    for name in ("config.yaml", "history.csv", "curves.png", "confusion.png", "summary.json"):
        assert (run / name).is_file(), name
    assert json.loads((run / "summary.json").read_text())["epochs"] == 2  # two stages


def test_data_command(tiny_imagenet, tmp_path, capsys):
    assert main(["data", str(tiny_imagenet), "--out", str(tmp_path / "data")]) == 0
    result = summary(capsys)
    assert result["num_classes"] == 4 and result["val_images"] == 16
    assert (tmp_path / "data" / "class_grid.png").is_file()


def test_features_explain_and_compress_commands(trained, tiny_imagenet, tmp_path, capsys):
    common = ["--checkpoint", str(trained), "--data", str(tiny_imagenet), "--device", "cpu"]
    assert main(["features", *common, "--out", str(tmp_path / "features")]) == 0
    assert summary(capsys)["num_images"] > 0
    assert (tmp_path / "features" / "tsne_canvas.png").is_file()

    explain = ["explain", *common, "--out", str(tmp_path / "explain"), "--indices", "0", "5"]
    assert main(explain) == 0
    assert summary(capsys)["target_layer"]
    assert (tmp_path / "explain" / "cams.png").is_file()

    out = tmp_path / "compress"
    assert main(["compress", *common, "--out", str(out), "--max-rank", "4"]) == 0
    table = summary(capsys)["table"]
    assert table[1]["classifier_parameters"] < table[0]["classifier_parameters"]
    assert (out / "summary.md").is_file() and (out / "compressed.pt").is_file()


def test_compress_needs_a_rank_rule_and_a_fresh_folder(trained, tiny_imagenet, tmp_path, capsys):
    common = ["compress", "--checkpoint", str(trained), "--data", str(tiny_imagenet)]
    with pytest.raises(SystemExit) as exit_info:
        main([*common, "--out", str(tmp_path / "a")])
    assert exit_info.value.code == 2 and "--max-rank" in capsys.readouterr().err
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "mine.txt").write_text("x")
    assert main([*common, "--out", str(tmp_path / "b"), "--eps", "0.3"]) == 2
    assert "already has files" in capsys.readouterr().err


def test_missing_checkpoint_is_one_clear_line(tiny_imagenet, tmp_path, capsys):
    missing = tmp_path / "nope.pt"
    args = ["--checkpoint", str(missing), "--data", str(tiny_imagenet), "--out", str(tmp_path)]
    assert main(["explain", *args]) == 2
    assert str(missing) in capsys.readouterr().err


def test_every_pipeline_with_a_parser_is_a_listed_command():
    from course_lib import __main__ as cli

    folder = Path(cli.__file__).parent / "pipelines"
    defining = {
        path.stem
        for path in folder.glob("*.py")
        if "\ndef add_parser(" in path.read_text(encoding="utf-8")
    }
    assert defining == {module.__name__.rsplit(".", 1)[1] for module in cli.COMMANDS}
