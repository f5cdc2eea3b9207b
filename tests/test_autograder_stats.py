"""Class statistics from hand-written results: pass rates lowest first, flags, failure messages
counted, the CSV, the command, and the page rendered in headless Chromium."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from test_autograder_feedback import case, render, results

from autograder.__main__ import main
from autograder.stats import class_stats, failure_message, load_results, write_stats

STUDENT_TEXT = "<script>document.title='pwned'</script>"
SHAPE = "Checked: the shape.\nFailed: wrong shape (2, 3)\nexpected (3, 2)"


def submission(name: str, passes: dict[str, bool], outputs: dict[str, str]) -> dict:
    """A results.json of ``name`` over the four cases of the class below."""

    def output(key: str) -> str:
        return "Checked: y.\nPassed." if passes[key] else outputs.get(key, "Failed: off by one")

    tests = [
        case("f: always passes", True, "Checked: x.\nPassed."),
        case("f: shape", passes["shape"], output("shape"), points=2.0),
        case("g: hidden one", passes["hidden"], output("hidden"), visibility="after_published"),
        case("g: half", passes["half"], output("half")),
    ]
    data = results(tests)
    data["extra_data"]["submission"] = name
    return data


CLASS = [
    submission("s1", {"shape": True, "hidden": True, "half": True}, {}),
    submission("s2", {"shape": False, "hidden": True, "half": True}, {"shape": SHAPE}),
    submission("s3", {"shape": False, "hidden": True, "half": True}, {"shape": SHAPE}),
    submission("s4", {"shape": False, "hidden": False, "half": False}, {"shape": SHAPE}),
    submission(
        "s5",
        {"shape": False, "hidden": False, "half": False},
        {"shape": f"Checked: the shape.\nFailed: ValueError: {STUDENT_TEXT}\n  File x"},
    ),
    submission(
        "s6",
        {"shape": False, "hidden": True, "half": False},
        {"shape": "Failed: timed out after 10 s"},
    ),
]


@pytest.fixture
def folder(tmp_path) -> Path:
    """The class as results files, one per student folder, and two files that are not results."""
    for data in CLASS:
        path = tmp_path / "class" / data["extra_data"]["submission"] / "results.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "class" / "notes.json").write_text('{"tests": "none"}')
    (tmp_path / "class" / "broken.json").write_text("{not json")
    (tmp_path / "class" / ".s7.1234.tmp.json").write_text("{being written")
    return tmp_path / "class"


def test_failure_message_is_the_first_line_of_the_failed_part():
    assert failure_message(SHAPE) == "wrong shape (2, 3)"
    assert failure_message("Checked: x.\nFailed:  ValueError: bad\n  File y") == "ValueError: bad"
    assert failure_message("no marker here\nsecond") == "no marker here"
    assert failure_message("") == "(no message)"


def test_pass_rates_lowest_first_with_messages_counted(folder):
    data, skipped = load_results(folder)
    stats = class_stats(data, skipped=skipped)
    assert len(stats.scores) == 6 and stats.max_score == 5.0
    assert sorted(stats.scores) == [1.0, 1.0, 2.0, 3.0, 3.0, 5.0]
    assert [(c.name, c.passed, c.submissions) for c in stats.cases] == [
        ("f: shape", 1, 6),
        ("g: half", 3, 6),
        ("g: hidden one", 4, 6),
        ("f: always passes", 6, 6),
    ]
    assert stats.cases[0].failures == (
        ("wrong shape (2, 3)", 3),
        (f"ValueError: {STUDENT_TEXT}", 1),
        ("timed out after 10 s", 1),
    )
    assert stats.cases[2].visibility == "after_published"
    assert [line.split(":")[0] for line in skipped] == ["broken.json", "notes.json"]
    assert stats.assignments == ("a2_transfer",)


def test_grade_all_output_folder_reads_only_current_results(tmp_path):
    out = tmp_path / "batch"
    for data in CLASS[:2]:
        name = data["extra_data"]["submission"]
        for path in (out / "results" / f"{name}.json", out / "history" / name / "old.json"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data), encoding="utf-8")
    (out / "gradebook.csv").write_text("submission,score\n")
    data, skipped = load_results(out)
    assert len(data) == 2 and skipped == []


def test_command_writes_page_and_csv(folder, tmp_path, capsys):
    out = tmp_path / "report" / "stats.html"
    assert main(["stats", str(folder), "--out", str(out), "--flag-below", "0.6", "--top", "2"]) == 0
    assert "6 submissions, 4 cases, 2 flagged" in capsys.readouterr().out
    with out.with_suffix(".csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["case"], r["function"], r["pass_rate"], r["flagged"]) for r in rows] == [
        ("f: shape", "f", "0.1667", "1"),
        ("g: half", "g", "0.5", "1"),
        ("g: hidden one", "g", "0.6667", "0"),
        ("f: always passes", "f", "1.0", "0"),
    ]
    page = out.read_text(encoding="utf-8")
    assert page.count("<img src='data:image/png;base64,") == 2
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)  # self-contained
    assert "<script" not in page and "&lt;script&gt;document.title=&#x27;pwned&#x27;" in page
    assert "2 of 4 cases are passed by fewer than 60 %" in page
    assert page.count("<tr class='flag'>") == 2
    assert "<strong>3&times;</strong> wrong shape (2, 3)" in page
    assert "1 more, 1 other messages" in page  # --top 2 of three messages
    assert "broken.json" in page and "notes.json" in page


def test_csv_path_can_be_chosen(folder, tmp_path):
    write_stats(folder, tmp_path / "s.html", csv_path=tmp_path / "rates.csv")
    assert (tmp_path / "rates.csv").is_file() and not (tmp_path / "s.csv").exists()


def test_errors_say_what_was_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected a folder of results.json"):
        write_stats(tmp_path / "missing", tmp_path / "s.html")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no readable results.json"):
        write_stats(tmp_path / "empty", tmp_path / "s.html")
    with pytest.raises(ValueError, match="between 0 and 1, got 50"):
        write_stats(tmp_path / "empty", tmp_path / "s.html", flag_below=50)
    assert not (tmp_path / "s.html").exists()


@pytest.mark.browser
def test_page_renders_every_figure_and_student_text_as_text(folder, tmp_path):
    stats_page = tmp_path / "stats.html"
    write_stats(folder, stats_page)
    shown, dom = render(stats_page.read_text(encoding="utf-8"), tmp_path)
    assert shown["images"] == 2 and shown["broken"] == 0
    assert shown["scripts"] == 0 and shown["title"] == "Class statistics: a2_transfer"
    text = shown["text"]
    assert "6 submissions; score mean 2.50, median 2.5, of 5 points; 1 with full marks." in text
    assert "Pass rate per case" in text and f"ValueError: {STUDENT_TEXT}" in text
    assert text.index("f: shape") < text.index("g: half") < text.index("f: always passes")
