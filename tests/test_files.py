"""Atomic writes and output folders."""

from __future__ import annotations

import pytest

from course_lib.files import (
    atomic_folder,
    atomic_output,
    atomic_write,
    prepare_out_dir,
    save_figure,
)


def test_atomic_output_moves_into_place_only_on_success(tmp_path):
    target = tmp_path / "out" / "file.txt"
    with atomic_output(target) as tmp:
        tmp.write_text("done")
        assert not target.exists() and tmp.suffix == ".txt"
    assert target.read_text() == "done"
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert target.read_text() == "done"
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]


def test_failed_writer_leaves_the_old_file(tmp_path):
    target = tmp_path / "summary.json"
    atomic_write(target, lambda tmp: tmp.write_text("{}"))

    def crash(tmp):
        tmp.write_text("{")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, crash)
    assert target.read_text() == "{}" and len(list(tmp_path.iterdir())) == 1


def test_figure_format_follows_the_suffix(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, _ = plt.subplots()
    save_figure(figure, tmp_path / "a.png")
    save_figure(figure, tmp_path / "a.svg")
    plt.close(figure)
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in (tmp_path / "a.svg").read_bytes()[:500]


def test_output_folder_with_files_needs_overwrite(tmp_path):
    assert prepare_out_dir(tmp_path / "new", overwrite=False).is_dir()
    (tmp_path / "new" / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="already has files.*--overwrite"):
        prepare_out_dir(tmp_path / "new", overwrite=False)
    assert prepare_out_dir(tmp_path / "new", overwrite=True) == tmp_path / "new"
    assert (tmp_path / "new" / "keep.txt").read_text() == "x"


def test_folder_replaces_the_old_one_only_when_built(tmp_path):
    dest = tmp_path / "release"
    (dest / "old").mkdir(parents=True)
    with pytest.raises(RuntimeError), atomic_folder(dest) as tree:
        tree.mkdir()
        (tree / "half.txt").write_text("x")
        raise RuntimeError
    assert [p.name for p in dest.iterdir()] == ["old"]
    with atomic_folder(dest) as tree:
        tree.mkdir()
        (tree / "new.txt").write_text("y")
    assert [p.name for p in dest.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["release"]  # no staging folder left
