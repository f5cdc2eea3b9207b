"""``python -m benchmarks``: how results become BENCHMARKS.md (the benchmarks run by make bench)."""

from __future__ import annotations

from benchmarks.__main__ import _previous_sections, markdown_tables


def test_rows_with_other_columns_get_their_own_table():
    rows = [{"layer": "a", "ms": 1.23456}, {"layer": "b", "ms": 2.0}, {"model": "x|y", "top1": 0.4}]
    tables = markdown_tables(rows).split("\n\n")
    assert tables[0].splitlines() == ["| layer | ms |", "|---|---|", "| a | 1.235 |", "| b | 2 |"]
    assert tables[1].splitlines() == ["| model | top1 |", "|---|---|", "| x\\|y | 0.4 |"]


def test_sections_not_rerun_are_kept(tmp_path):
    page = tmp_path / "BENCHMARKS.md"
    page.write_text("# Benchmarks\n\nintro\n\n## data: loaders\n\ntable\n\n## train: loop\n\nrow\n")
    sections = _previous_sections(page)
    assert list(sections) == ["data", "train"]
    assert sections["data"] == "## data: loaders\n\ntable\n"
    assert _previous_sections(tmp_path / "missing.md") == {}
