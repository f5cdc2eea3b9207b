"""Feedback pages: built from results.json only, hidden cases summarised, student text escaped;
written by grade and grade-all next to each results file; rendered in headless Chromium."""

from __future__ import annotations

import html
import json
import logging
import re
import shutil
from pathlib import Path

import pytest
from autograder_corpus import build_notebook, release_notebook, solution_sources, write
from browser import dump_dom

from autograder import feedback
from autograder.__main__ import main
from autograder.feedback import feedback_html, feedback_path, write_feedback
from autograder.submissions import grade_to_file

ASSIGNMENT = "a2_transfer"
STUDENT_TEXT = "<script>document.title='pwned'</script> & <b>bold</b>"
SECRET = "expected 0.731 on the secret input"  # what a never-shown case's output holds
NONCE = "render-check"


def results(tests: list[dict], *, notes: str = "") -> dict:
    """A results.json content in the grader's format."""
    return {
        "score": sum(test["score"] for test in tests),
        "execution_time": 3,
        "output": "a2_transfer: summary line.\nSandbox: rlimits (rlimits only)." + notes,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "assignment": ASSIGNMENT,
            "submission": "alice",
            "submission_sha256": "0" * 64,
            "max_score": sum(test["max_score"] for test in tests),
            "sandbox": "rlimits (rlimits only)",
            "sandbox_guarantees": "a separate process; the host's network",
        },
    }


def case(name: str, passed: bool, output: str, *, visibility: str = "visible", points=1.0):
    return {
        "name": name,
        "score": points if passed else 0.0,
        "max_score": points,
        "status": "passed" if passed else "failed",
        "visibility": visibility,
        "output": output,
    }


@pytest.fixture
def sample() -> dict:
    return results(
        [
            case("topk_accuracy: ties at k=5", True, "Checked: one fraction per k.\nPassed."),
            case(
                "topk_accuracy: random logits",
                False,
                f"Checked: one fraction per k.\nFailed: ValueError: {STUDENT_TEXT}\n  File x",
                points=2.0,
            ),
            case(
                "topk_accuracy: 200 classes",
                False,
                "Checked: one fraction per k.\nFailed: ValueError raised (details not shown)",
                visibility="after_published",
            ),
            case("set_trainable: freeze", True, "Checked: counts.\nPassed.", points=3.0),
            case("set_trainable: secret case", False, f"Failed: {SECRET}", visibility="hidden"),
        ],
        notes="\nNotes:\n- cell 'set_trainable' was restored\n- a note with <i>markup</i>",
    )


def visible_text(page: str) -> str:
    """The page's text as a browser shows it, roughly: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page.split("<body>", 1)[1]))


def test_page_shows_scores_cases_notes_and_sandbox(sample):
    page = feedback_html(sample)
    text = " ".join(visible_text(page).split())
    assert "Feedback: a2_transfer" in text and "Submission: alice" in text
    assert "4 / 8 points , 2 of 5 cases passed" in text
    assert "Sandbox: rlimits (rlimits only) (a separate process; the host's network)." in text
    assert "cell 'set_trainable' was restored" in text and "a note with <i>markup</i>" in text
    assert "topk_accuracy 1 / 4 1 of 3" in text  # score per function
    assert "set_trainable 3 / 3 1 of 1" in text
    assert "other hidden cases 0 / 1 0 of 1" in text
    assert "failed 0 / 2 random logits Checked: one fraction per k. Failed: ValueError:" in text
    assert "200 classes hidden Checked: one fraction per k. Failed: ValueError raised" in text


def test_cases_never_shown_are_counted_without_name_or_output(sample):
    page = feedback_html(sample)
    assert SECRET not in page and "secret case" not in page
    text = " ".join(visible_text(page).split())
    assert "Other hidden cases result points failed 0 / 1" in text


def test_student_text_is_escaped_and_the_page_runs_no_script(sample):
    page = feedback_html(sample)
    assert "<script" not in page and "<b>bold" not in page and "<i>markup" not in page
    assert html.escape(STUDENT_TEXT, quote=True) in page
    assert "default-src 'none'" in page  # no script runs even if a text slipped through
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)  # self-contained


def test_feedback_path_is_next_to_the_results_file(tmp_path):
    assert feedback_path(tmp_path / "alice.json") == tmp_path / "alice.html"
    assert feedback_path("results") == Path("results.html")
    assert feedback_path("alice.html") == Path("alice.html.html")  # never the results file
    written = write_feedback(results([case("f: c", True, "Passed.")]), tmp_path / "a" / "b.html")
    assert written.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory) -> dict[str, Path]:
    """The release, and a submission whose topk_accuracy raises with markup in its message."""
    root = tmp_path_factory.mktemp("feedback")
    raising = (
        f"def topk_accuracy(output, target, topk=(1,)):\n    raise ValueError({STUDENT_TEXT!r})\n"
    )
    sources = solution_sources(ASSIGNMENT) | {"topk_accuracy": raising}
    return {
        "release": write(release_notebook(ASSIGNMENT), root / "release.ipynb"),
        "raising": write(build_notebook(ASSIGNMENT, sources), root / "subs" / "bob.ipynb"),
    }


@pytest.fixture(scope="module")
def graded(notebooks, tmp_path_factory) -> Path:
    """``grade`` of the raising submission: the results file, with its page beside it."""
    out = tmp_path_factory.mktemp("graded") / "results.json"
    submission, source = str(notebooks["raising"]), str(notebooks["release"])
    assert main(["grade", ASSIGNMENT, submission, "--out", str(out), "--source", source]) == 0
    return out


def test_grade_writes_the_page_of_its_results(graded):
    page = graded.with_suffix(".html").read_text(encoding="utf-8")
    data = json.loads(graded.read_text(encoding="utf-8"))
    assert page == feedback_html(data)
    assert 0 < data["score"] < data["extra_data"]["max_score"]
    text = visible_text(page)
    for function in ("build_vgg16_head", "set_trainable", "train_one_epoch", "topk_accuracy"):
        assert function in text
    assert f"ValueError: {STUDENT_TEXT}" in text  # public case: the message, as text
    assert "<script" not in page
    topk = [t for t in data["tests"] if t["name"].startswith("topk_accuracy: ")]
    public = [t for t in topk if t["visibility"] == "visible"]
    assert len(public) < len(topk) and all(t["status"] == "failed" for t in topk)
    assert text.count(f"ValueError: {STUDENT_TEXT}") == len(public)  # never a hidden case's
    for test in topk[len(public) :]:  # hidden cases: exactly what results.json holds
        assert html.escape(test["output"], quote=True) in page


def test_grade_all_writes_a_page_per_submission(notebooks, tmp_path):
    submissions = notebooks["raising"].parent
    shutil.copy(notebooks["release"], submissions / "carol.ipynb")
    out = tmp_path / "batch"
    source = ["--source", str(notebooks["release"])]
    assert main(["grade-all", ASSIGNMENT, str(submissions), "--out", str(out), *source]) == 0
    for name in ("bob", "carol"):
        data = json.loads((out / "results" / f"{name}.json").read_text(encoding="utf-8"))
        page = (out / "results" / f"{name}.html").read_text(encoding="utf-8")
        assert page == feedback_html(data)
    assert sorted(p.name for p in (out / "results").iterdir()) == [
        "bob.html",
        "bob.json",
        "carol.html",
        "carol.json",
    ]


def test_a_page_that_cannot_be_written_costs_nothing_but_itself(tmp_path, monkeypatch, caplog):
    out = tmp_path / "alice.json"
    feedback_path(out).write_text("the page of an earlier grade")

    def broken(results: dict, path: Path) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr("autograder.submissions.write_feedback", broken)
    with caplog.at_level(logging.ERROR, logger="autograder.submissions"):
        data = grade_to_file(ASSIGNMENT, tmp_path / "missing.ipynb", out)
    assert json.loads(out.read_text(encoding="utf-8")) == data
    assert not feedback_path(out).exists()
    assert "writing the feedback page" in caplog.text and "disk full" in caplog.text


def render(page: str, tmp_path: Path) -> tuple[dict, str]:
    """Render ``page`` in headless Chromium: what it shows (text, title, images, scripts) and
    the DOM. A check script, allowed by a nonce added to the page's policy, reports them."""
    check = (
        f"<script nonce='{NONCE}'>window.addEventListener('load', () => {{"
        " const images = [...document.images];"
        " const report = {images: images.length,"
        "  broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).length,"
        "  scripts: document.scripts.length - 1, title: document.title,"
        "  text: document.body.innerText};"
        f" const out = document.createElement('pre'); out.id = '{NONCE}';"
        " out.textContent = JSON.stringify(report); document.body.appendChild(out); });</script>"
    )
    assert page.count(feedback.CSP) == 1 and page.count("</body>") == 1
    policy = f"{feedback.CSP}; script-src 'nonce-{NONCE}'"
    path = tmp_path / "page.html"
    path.write_text(
        page.replace(feedback.CSP, policy).replace("</body>", check + "</body>"), encoding="utf-8"
    )
    done = dump_dom(path, tmp_path / "profile")
    found = re.search(rf'<pre id="{NONCE}">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the page did not finish loading: {done.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1))), done.stdout


@pytest.mark.browser
def test_page_renders_student_text_as_text(sample, graded, tmp_path):
    shown, dom = render(feedback_html(sample), tmp_path)
    assert shown["scripts"] == 0 and shown["title"] == "Feedback: a2_transfer alice"
    assert STUDENT_TEXT in shown["text"] and "a note with <i>markup</i>" in shown["text"]
    assert "4 / 8 points" in shown["text"] and "Other hidden cases" in shown["text"]
    assert SECRET not in dom
    shown, dom = render(graded.with_suffix(".html").read_text(encoding="utf-8"), tmp_path)
    assert shown["scripts"] == 0 and "pwned" not in shown["title"]
    assert f"ValueError: {STUDENT_TEXT}" in shown["text"]
    assert "<b>" not in dom.split(f'<pre id="{NONCE}">')[0]
    assert shown["images"] == 0
