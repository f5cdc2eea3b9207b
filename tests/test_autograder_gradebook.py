"""grade-all's regrades with history and its gradebooks: students, times, late penalty, Canvas."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from test_autograder_feedback import render

from autograder import spec
from autograder.__main__ import main
from autograder.batch import discover, regrade_reason
from autograder.gradebook import LatePolicy, identify, parse_time, read_roster

ASSIGNMENT = "a2_transfer"
DUE = datetime(2027, 3, 1, 23, 59, tzinfo=timezone.utc)
LATE = ["--due", "2027-03-01T23:59+00:00", "--late-per-day", "10", "--late-cap", "50"]
ROSTER = """student,file,name,email,section,canvas_id,sis_user_id,sis_login_id
s1001,,"Adams, Ann",ann@uni.edu,L01,501,S-1001,aadams
s1002,,"Brown, Bo",bo@uni.edu,L01,502,S-1002,bbrown
s1003,,"Chen, Cy",cy@uni.edu,L02,503,S-1003,cchen
s1004,Jane Doe final.ipynb,"Doe, Jane",jane@uni.edu,L02,504,S-1004,jdoe
s1005,,"Eze, Eli",eli@uni.edu,L01,505,S-1005,eeze
s1006,,"Fox, Fay",fay@uni.edu,L02,506,S-1006,ffox
s1007,,"Gil, Gus",gus@uni.edu,L01,507,S-1007,ggil
"""


def _at(path: Path, when: datetime) -> Path:
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _class(root: Path, a2_notebooks: dict[str, Path]) -> Path:
    """Nine submissions of six roster students (s1007 submits nothing), a collision, a stranger.

    s1003 is 1 day 2 hours late (2 started days: 20 %); s1004's file is named after her; s1005
    comes in nbgrader's layout, s1006 with Gradescope's metadata.
    """
    subs = root / "submissions"
    subs.mkdir()

    def put(kind: str, relative: str, when: datetime) -> Path:
        path = subs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return _at(shutil.copyfile(a2_notebooks[kind], path), when)

    put("solution", "s1001.ipynb", DUE - timedelta(hours=3))
    put("release", "s1002.ipynb", DUE - timedelta(days=1))
    put("solution", "s1003.ipynb", DUE + timedelta(days=1, hours=2))
    put("solution", "Jane Doe final.ipynb", DUE - timedelta(minutes=1))
    put("release", f"s1005/{ASSIGNMENT}/{ASSIGNMENT}.ipynb", DUE + timedelta(days=9))
    (subs / "s1005" / ASSIGNMENT / "timestamp.txt").write_text("2027-03-01 20:00:00.000000 UTC")
    put("release", f"submission_77/{ASSIGNMENT}.ipynb", DUE + timedelta(days=9))
    metadata = {
        "created_at": "2027-03-01T15:59:00.000000-08:00",
        "users": [{"email": "fay@uni.edu", "id": 77, "name": "Fay Fox", "sid": "s1006"}],
    }
    (subs / "submission_77" / "submission_metadata.json").write_text(json.dumps(metadata))
    put("solution", f"dup/{ASSIGNMENT}.ipynb", DUE - timedelta(days=1))
    put("release", "dup.ipynb", DUE - timedelta(days=1))
    put("release", "stranger.ipynb", DUE - timedelta(days=1))
    return subs


@pytest.fixture(scope="module")
def batch(tmp_path_factory, a2_notebooks) -> dict:
    """The class graded once by ``grade-all``, with roster and late policy."""
    root = tmp_path_factory.mktemp("batch")
    subs = _class(root, a2_notebooks)
    roster = root / "roster.csv"
    roster.write_text(ROSTER)
    out = root / "out"
    argv = ["grade-all", ASSIGNMENT, str(subs), "--out", str(out), "--workers", "2"]
    argv += ["--no-progress", "--source", str(a2_notebooks["release"]), "--roster", str(roster)]
    argv += [*LATE, "--canvas-column", "A2 transfer (1234)"]
    return {"argv": argv, "out": out, "subs": subs}


@pytest.fixture(scope="module")
def first_run(batch) -> dict:
    with pytest.MonkeyPatch.context() as patch:
        lines: list[str] = []
        patch.setattr("builtins.print", lambda *a, **k: lines.append(" ".join(map(str, a))))
        assert main(batch["argv"]) == 0
    results = {p.stem: json.loads(p.read_text()) for p in (batch["out"] / "results").glob("*.json")}
    return {"output": "\n".join(lines), "results": results}


def test_late_penalty_arithmetic():
    policy = LatePolicy(due=DUE, per_day=10, cap=50)
    cases = {
        DUE: (0, 0),
        DUE + timedelta(seconds=1): (1, 10),
        DUE + timedelta(days=1): (1, 10),
        DUE + timedelta(days=1, hours=2): (2, 20),
        DUE + timedelta(days=9): (9, 50),
        DUE - timedelta(days=3): (0, 0),
    }
    for when, (days, penalty) in cases.items():
        assert (policy.days_late(when), policy.penalty(when)) == (days, penalty), when
    assert LatePolicy().penalty(DUE) == 0
    with pytest.raises(ValueError, match="0 <= cap <= 100"):
        LatePolicy(due=DUE, per_day=10, cap=120)
    assert parse_time("2027-03-01 23:59:00.000000 UTC") == DUE
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time("March 1st")


def test_grader_hash_follows_checks_asserts_and_references(tmp_path, monkeypatch):
    checks = spec.load_checks(ASSIGNMENT)
    before = spec.grader_sha256(checks)
    assert spec.grader_sha256(checks) == before
    other = dataclasses.replace(checks, functions={**checks.functions, "x": "course_lib.viz"})
    assert spec.grader_sha256(other) != before  # another reference module
    copy = tmp_path / "checks"
    shutil.copytree(spec.CHECKS_DIR, copy)
    monkeypatch.setattr(spec, "CHECKS_DIR", copy)
    monkeypatch.setattr(spec, "FAMILIES", copy / "families")
    assert spec.grader_sha256(checks) == before  # same bytes elsewhere
    for name in (f"{ASSIGNMENT}.py", "common.py", "families/metrics.py"):
        path = copy / name
        original = path.read_bytes()
        path.write_bytes(original + b"\n# changed\n")
        assert spec.grader_sha256(checks) != before, name
        path.write_bytes(original)


def test_regrade_reasons():
    previous = {"score": 1.0, "extra_data": {"submission_sha256": "n1", "grader_sha256": "g1"}}
    assert regrade_reason(None, "n1", "g1", force=False) == "new"
    assert regrade_reason(previous, "n1", "g1", force=False) is None
    assert regrade_reason(previous, "n1", "g1", force=True) == "forced"
    assert regrade_reason(previous, "n2", "g1", force=False) == "submission changed"
    assert regrade_reason(previous, "n1", "g2", force=False) == "checks changed"
    unhashed = {"score": 1.0, "extra_data": {"submission_sha256": "n1"}}
    assert regrade_reason(unhashed, "n1", "g1", force=False) == "checks changed"


def test_identities_from_nbgrader_gradescope_roster_and_mtime(tmp_path, a2_notebooks):
    subs = _class(tmp_path, a2_notebooks)
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER)
    found = discover(subs)
    assert {"dup", "dup.ipynb"} <= set(found), "a folder beside its notebook hides neither"
    owners = {n: identify(n, p, ASSIGNMENT, read_roster(roster)) for n, p in found.items()}
    assert owners["Jane Doe final"].students[0].student == "s1004"
    assert owners["s1005"].time_source == "nbgrader timestamp.txt"
    assert owners["s1005"].submitted_at == DUE - timedelta(hours=3, minutes=59)
    gradescope = owners["submission_77"]
    assert gradescope.students[0].student == "s1006" and gradescope.students[0].name == "Fay Fox"
    assert (gradescope.time_source, gradescope.submitted_at) == ("gradescope created_at", DUE)
    assert owners["s1003"].time_source == "file mtime"
    assert owners["s1003"].submitted_at == DUE + timedelta(days=1, hours=2)
    assert owners["dup"].students[0].student == owners["dup.ipynb"].students[0].student == "dup"
    (subs / "submission_77" / "submission_metadata.json").write_text("{not json")
    broken = identify("submission_77", found["submission_77"], ASSIGNMENT)
    assert broken.time_source == "file mtime" and "ignored" in broken.problems[0]
    bad = tmp_path / "bad.csv"
    bad.write_text("student,login\ns1,x\n")
    with pytest.raises(ValueError, match="expected a 'student' column and only"):
        read_roster(bad)


def test_gradebook_one_row_per_student_with_late_penalty(first_run, batch):
    assert "graded 9, skipped 0" in first_run["output"]
    rows = {row["student"]: row for row in _csv(batch["out"] / "gradebook.csv")}
    assert set(rows) == {f"s100{i}" for i in range(1, 8)} | {"dup", "stranger"}
    full = first_run["results"]["s1001"]["score"]
    assert full == first_run["results"]["s1001"]["extra_data"]["max_score"] > 0
    s1001, s1003 = rows["s1001"], rows["s1003"]
    assert (s1001["status"], float(s1001["final_score"]), s1001["name"]) == (
        "ok",
        full,
        "Adams, Ann",
    )
    assert s1003["status"] == "late 2 day(s)" and s1003["days_late"] == "2"
    assert float(s1003["late_penalty_percent"]) == 20
    assert float(s1003["raw_score"]) == full
    assert float(s1003["final_score"]) == pytest.approx(full * 0.8)
    assert s1003["time_source"] == "file mtime"
    jane = rows["s1004"]
    assert jane["submission"] == "Jane Doe final" and float(jane["final_score"]) == full
    assert rows["s1005"]["time_source"] == "nbgrader timestamp.txt"
    assert rows["s1006"]["time_source"] == "gradescope created_at"
    assert rows["s1006"]["days_late"] == "0" and rows["s1006"]["email"] == "fay@uni.edu"
    assert rows["dup"]["status"] == "unknown student" and rows["dup"]["final_score"] == ""
    assert rows["dup"]["submission"] == "dup; dup.ipynb"
    assert rows["stranger"]["status"] == "unknown student"
    assert rows["s1007"]["status"] == "missing"


def test_canvas_csv_and_problems(first_run, batch):
    lines = (batch["out"] / "canvas.csv").read_text().splitlines()
    assert lines[0] == "Student,ID,SIS User ID,SIS Login ID,Section,A2 transfer (1234)"
    full = first_run["results"]["s1001"]["score"]
    assert lines[1] == f"    Points Possible,,,,,{full}"
    rows = list(csv.reader(lines[2:]))
    by_id = {row[1]: row for row in rows}
    assert set(by_id) == {"501", "502", "503", "504", "505", "506"}  # no collision, stranger
    assert by_id["503"] == ["Chen, Cy", "503", "S-1003", "cchen", "L02", str(full * 0.8)]
    assert float(by_id["504"][5]) == full and float(by_id["502"][5]) == 0
    problems = {(p["kind"], p["student"]) for p in _csv(batch["out"] / "problems.csv")}
    assert problems == {
        ("collision", "dup"),
        ("unknown student", "dup"),
        ("unknown student", "stranger"),
        ("missing", "s1007"),
    }
    assert "problem: collision: dup [dup; dup.ipynb]" in first_run["output"]
    assert "problem: missing: s1007" in first_run["output"]


def test_changed_check_regrades_all_and_keeps_history(first_run, batch, tmp_path, monkeypatch):
    """A case worth 2 more points and its checks file changed: everything is graded again."""
    import autograder.checks.a2_transfer as module

    copy = tmp_path / "checks"
    shutil.copytree(spec.CHECKS_DIR, copy)
    (copy / f"{ASSIGNMENT}.py").write_text((copy / f"{ASSIGNMENT}.py").read_text() + "\n#\n")
    monkeypatch.setattr(spec, "CHECKS_DIR", copy)
    monkeypatch.setattr(spec, "FAMILIES", copy / "families")
    first = module.CASES[0]
    cases = [dataclasses.replace(first, points=first.points + 2), *module.CASES[1:]]
    monkeypatch.setattr(module, "CASES", cases)
    lines: list[str] = []
    monkeypatch.setattr("builtins.print", lambda *a, **k: lines.append(" ".join(map(str, a))))
    assert main(batch["argv"]) == 0
    output = "\n".join(lines)
    old = first_run["results"]["s1001"]["score"]
    assert "graded 9, skipped 0" in output
    assert f"regraded s1001 (s1001): {old:g} -> {old + 2:g} (+2; checks changed)" in output
    out = batch["out"]
    regrade_files = list(out.glob("regrade-*.csv"))
    assert len(regrade_files) == 1
    changes = {row["submission"]: row for row in _csv(regrade_files[0])}
    assert len(changes) == 9 and changes["Jane Doe final"]["student"] == "s1004"
    jane = changes["Jane Doe final"]
    assert float(jane["new_score"]) - float(jane["old_score"]) == float(jane["change"]) == 2
    assert changes["s1002"]["change"] == "0.0" and changes["s1002"]["reason"] == "checks changed"
    for name, data in first_run["results"].items():
        kept = list((out / "history" / name).glob("*.json"))
        assert len(kept) == 1 and json.loads(kept[0].read_text()) == data, name
    rows = {row["student"]: row for row in _csv(out / "gradebook.csv")}
    assert float(rows["s1003"]["final_score"]) == pytest.approx((old + 2) * 0.8)
    lines.clear()
    assert main(batch["argv"]) == 0  # nothing changed since
    assert "graded 0, skipped 9" in "\n".join(lines)
    assert len(list(out.glob("regrade-*.csv"))) == 1


@pytest.mark.browser
def test_the_class_gets_feedback_pages_and_a_statistics_page(first_run, batch, tmp_path):
    """The same class: a readable page per submission, and the class view in Chromium."""
    results = sorted((batch["out"] / "results").glob("*.json"))
    pages = {path.stem: path.with_suffix(".html") for path in results}
    assert len(pages) >= 6 and all(page.is_file() for page in pages.values())
    for name, page in pages.items():
        data = json.loads((batch["out"] / "results" / f"{name}.json").read_text())
        shown, _ = render(page.read_text(encoding="utf-8"), tmp_path)
        assert f"{data['score']:g}" in shown["text"] and shown["scripts"] == 0, name
    out = tmp_path / "stats.html"
    assert main(["stats", str(batch["out"]), "--out", str(out)]) == 0
    shown, _ = render(out.read_text(encoding="utf-8"), tmp_path)
    assert shown["images"] == 2 and shown["broken"] == 0
    assert f"{len(results)} submissions; score mean" in shown["text"]
