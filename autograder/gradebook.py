"""Who submitted what and when, late penalties, and the gradebooks of a batch.

A submission's student and time come from, in this order: the roster's ``file`` column (with
its ``submitted_at``), Gradescope's ``submission_metadata.json`` in the submission's folder
(``users[].sid``, else ``email``; ``created_at``), nbgrader's ``submitted/<student>/<id>/``
layout (time from its ``timestamp.txt``), else the submission's name (time: the notebook's
modification time). Every row says which source gave the time.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from autograder.notebook import SubmissionError
from autograder.safefs import read_regular
from autograder.submissions import find_notebook
from course_lib.files import write_text

ROSTER_COLUMNS = (
    "student",
    "file",
    "name",
    "email",
    "section",
    "canvas_id",
    "sis_user_id",
    "sis_login_id",
    "submitted_at",
)
GRADESCOPE_METADATA = "submission_metadata.json"
MAX_METADATA_BYTES = 2**20
CANVAS_FIELDS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
GRADEBOOK_FIELDS = [
    "student",
    "final_score",
    "raw_score",
    "max_score",
    "late_penalty_percent",
    "days_late",
    "submitted_at",
    "time_source",
    "submission",
    "name",
    "email",
    "section",
    "status",
    "sandbox",
    "notes",
]
PROBLEM_FIELDS = ["kind", "student", "submissions", "detail"]


@dataclass(frozen=True)
class Student:
    """A student as the roster or the submission's metadata knows them."""

    student: str
    name: str = ""
    email: str = ""
    section: str = ""
    canvas_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""


@dataclass(frozen=True)
class Roster:
    students: dict[str, Student]
    files: dict[str, str]  # submission file or folder name -> student id
    times: dict[str, datetime]  # submission file or folder name -> submission time


@dataclass(frozen=True)
class Owner:
    """Who made a submission (several students for a group) and when."""

    students: tuple[Student, ...]
    submitted_at: datetime | None
    time_source: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Problem:
    kind: str  # collision, unknown student, missing, no results, metadata
    student: str
    submissions: str
    detail: str


@dataclass(frozen=True)
class LatePolicy:
    """A late penalty: ``per_day`` percent of the score per started day after ``due``, at most
    ``cap`` percent."""

    due: datetime | None = None
    per_day: float = 0.0
    cap: float = 100.0

    def __post_init__(self) -> None:
        if self.per_day < 0 or not 0 <= self.cap <= 100:
            raise ValueError(
                f"late penalty: expected per-day >= 0 and 0 <= cap <= 100 (percent), got "
                f"per-day {self.per_day:g} and cap {self.cap:g}"
            )

    def days_late(self, when: datetime | None) -> int:
        if self.due is None or when is None or when <= self.due:
            return 0
        return math.ceil((when - self.due).total_seconds() / 86400)

    def penalty(self, when: datetime | None) -> float:
        return min(self.cap, self.days_late(when) * self.per_day)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (nbgrader's ``... UTC`` too); without an offset, the local time zone."""
    text = text.strip()
    if text.endswith(" UTC"):
        text = text[:-4] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"expected an ISO 8601 time such as 2027-03-01T23:59, got {text!r}"
        ) from None
    return when if when.tzinfo else when.astimezone()


def read_roster(path: Path | str) -> Roster:
    """The roster CSV: a ``student`` column, optionally the others of ``ROSTER_COLUMNS``."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        unknown = sorted(set(columns) - set(ROSTER_COLUMNS))
        if "student" not in columns or unknown:
            raise ValueError(
                f"roster {path}: expected a 'student' column and only {', '.join(ROSTER_COLUMNS)};"
                f" got columns {', '.join(columns) or 'none'}"
            )
        students, files, times = {}, {}, {}
        for line, row in enumerate(reader, start=2):
            row = {key: (value or "").strip() for key, value in row.items() if key}
            sid = row.pop("student")
            if not sid or sid in students:
                raise ValueError(f"roster {path} line {line}: empty or repeated student {sid!r}")
            file, when = row.pop("file", ""), row.pop("submitted_at", "")
            students[sid] = Student(sid, **row)
            if file:
                if file in files:
                    raise ValueError(f"roster {path} line {line}: file {file!r} given twice")
                files[file] = sid
                if when:
                    times[file] = parse_time(when)
    return Roster(students, files, times)


def _gradescope(folder: Path) -> tuple[tuple[Student, ...], datetime | None]:
    data = json.loads(read_regular(folder / GRADESCOPE_METADATA, max_bytes=MAX_METADATA_BYTES))
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, list) or not all(isinstance(user, dict) for user in users):
        raise ValueError("expected a 'users' list of objects")
    students = []
    for user in users:
        fields = {key: str(user.get(key) or "") for key in ("sid", "email", "name")}
        if not (fields["sid"] or fields["email"]):
            raise ValueError("a user without 'sid' and 'email'")
        students.append(Student(fields["sid"] or fields["email"], fields["name"], fields["email"]))
    if not students:
        raise ValueError("no users")
    created = data.get("created_at")
    return tuple(students), parse_time(created) if isinstance(created, str) else None


def _mtime(path: Path, assignment: str) -> datetime:
    try:
        path = find_notebook(path, assignment)
    except SubmissionError:
        pass  # the folder or special file itself
    return datetime.fromtimestamp(path.lstat().st_mtime, timezone.utc)


def identify(name: str, path: Path, assignment: str, roster: Roster | None = None) -> Owner:
    """Who made the submission ``name`` (the file or folder ``path``) and when."""
    problems: list[str] = []
    default = Student(name if path.is_dir() else path.name.removesuffix(".ipynb"))
    if roster and (path.name in roster.files or name in roster.files):
        key = path.name if path.name in roster.files else name
        student = Student(roster.files[key])
        if key in roster.times:
            return Owner((student,), roster.times[key], "roster")
        return Owner((student,), _mtime(path, assignment), "file mtime")
    folder = path.is_dir() and not path.is_symlink()
    if folder and (path / GRADESCOPE_METADATA).exists():
        try:
            students, when = _gradescope(path)
            if when:
                return Owner(students, when, "gradescope created_at")
            return Owner(students, _mtime(path, assignment), "file mtime")
        except (OSError, ValueError) as error:  # JSONDecodeError is a ValueError
            problems.append(f"{GRADESCOPE_METADATA} ignored: {error}")
    nbgrader = path / assignment
    if folder and nbgrader.is_dir() and not nbgrader.is_symlink():
        try:
            text = read_regular(nbgrader / "timestamp.txt", max_bytes=1024).decode()
            return Owner((default,), parse_time(text), "nbgrader timestamp.txt", tuple(problems))
        except (OSError, ValueError) as error:
            problems.append(f"nbgrader timestamp.txt ignored: {error}")
    return Owner((default,), _mtime(path, assignment), "file mtime", tuple(problems))


def _score_fields(data: dict[str, Any], owner: Owner, policy: LatePolicy) -> dict[str, Any]:
    extra = data.get("extra_data", {})
    penalty = policy.penalty(owner.submitted_at)
    row = {
        "final_score": round(data["score"] * (1 - penalty / 100), 4),
        "raw_score": data["score"],
        "max_score": extra.get("max_score", ""),
        "late_penalty_percent": penalty,
        "days_late": policy.days_late(owner.submitted_at),
        "sandbox": extra.get("sandbox", ""),
        "notes": data["output"].partition("\nNotes:")[2].strip().replace("\n", " "),
    }
    row.update({test["name"]: test["score"] for test in data["tests"]})
    return row


@dataclass
class Gradebook:
    rows: list[dict[str, Any]] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def build(
    results: dict[str, dict[str, Any] | None],
    owners: dict[str, Owner],
    policy: LatePolicy,
    roster: Roster | None = None,
) -> Gradebook:
    """One row per student from the ``results`` (by submission name) and their ``owners``."""
    book, by_student = Gradebook(), {}
    for name, owner in owners.items():
        for student in owner.students:
            by_student.setdefault(student.student, []).append((name, student))
        book.problems += [Problem("metadata", "", name, text) for text in owner.problems]
    for test in (t["name"] for data in results.values() if data for t in data["tests"]):
        if test not in book.tests:
            book.tests.append(test)
    for sid, entries in sorted(by_student.items()):
        names = [name for name, _ in entries]
        known = roster.students.get(sid) if roster else None
        student = known or entries[0][1]
        owner = owners[names[0]]
        row = {**vars(student), "submission": "; ".join(names), "status": "ok"}
        row["submitted_at"] = owner.submitted_at.isoformat() if owner.submitted_at else ""
        row["time_source"] = owner.time_source
        data = results.get(names[0])
        if len(names) > 1:
            row.update(status="collision", submitted_at="", time_source="")
            scores = ", ".join(f"{n}: {(results.get(n) or {}).get('score', '?')}" for n in names)
            book.problems.append(Problem("collision", sid, row["submission"], scores))
        elif data is None:
            row["status"] = "no results"
            book.problems.append(Problem("no results", sid, names[0], "no readable results"))
        else:
            row.update(_score_fields(data, owner, policy))
            if row["days_late"]:
                row["status"] = f"late {row['days_late']} day(s)"
        if roster and not known:
            row["status"] = "unknown student"
            book.problems.append(
                Problem("unknown student", sid, row["submission"], "not in roster")
            )
        book.rows.append(row)
    for sid in sorted(set(roster.students if roster else ()) - set(by_student)):
        book.rows.append({**vars(roster.students[sid]), "status": "missing"})
        book.problems.append(Problem("missing", sid, "", "no submission"))
    return book


def csv_text(header: list[str], rows: list[dict[str, Any]] | list[list[Any]]) -> str:
    """CSV text: ``header``, then ``rows`` (lists, or dicts by column name)."""
    buffer = io.StringIO()
    if rows and isinstance(rows[0], list):
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    else:
        writer = csv.DictWriter(
            buffer, fieldnames=header, restval="", extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def write_gradebook(book: Gradebook, path: Path) -> Path:
    return write_text(path, csv_text(GRADEBOOK_FIELDS + book.tests, book.rows))


def write_problems(problems: list[Problem], path: Path) -> Path:
    return write_text(path, csv_text(PROBLEM_FIELDS, [vars(problem) for problem in problems]))


def write_canvas(book: Gradebook, path: Path, *, column: str, points: float) -> Path:
    """Canvas's gradebook import: its header, its ``Points Possible`` row, then the students
    whose grade is certain (no collision, known, graded); the score is the final score."""
    lines: list[list[Any]] = [["    Points Possible", "", "", "", "", points]]
    for row in book.rows:
        if row["status"] == "ok" or row["status"].startswith("late"):
            sis_user = row["sis_user_id"] or row["student"]
            lines.append(
                [row["name"] or row["student"], row["canvas_id"], sis_user]
                + [row["sis_login_id"], row["section"], row["final_score"]]
            )
    return write_text(path, csv_text(CANVAS_FIELDS + [column], lines))


def unique_path(path: Path) -> Path:
    """``path``, or ``path`` with ``-2``, ``-3``... before its suffix when it exists."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate
