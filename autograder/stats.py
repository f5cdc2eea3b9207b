"""Class statistics from a folder of results.json files: scores, pass rates, failure messages.

A case that most of the class fails is a sign of an unfair or broken test: the page lists
every case by pass rate, lowest first, flags those below a threshold and counts the failure
messages of each (the first line of its ``Failed:`` part), so staff see why it fails.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.feedback import esc, html_page, html_table, points, split_name
from course_lib.files import write_text

logger = logging.getLogger(__name__)

FLAG_BELOW = 0.5  # pass rates under this are flagged
TOP_MESSAGES = 3  # failure messages shown per case
CSV_FIELDS = ["case", "function", "visibility", "submissions", "passed", "pass_rate", "flagged"]


@dataclass(frozen=True)
class CaseStats:
    """How one case went across the class."""

    name: str
    visibility: str
    submissions: int
    passed: int
    failures: tuple[tuple[str, int], ...]  # (message, count), most frequent first

    @property
    def pass_rate(self) -> float:
        return self.passed / self.submissions


@dataclass(frozen=True)
class ClassStats:
    """Scores and per-case results of the results files found in one folder."""

    assignments: tuple[str, ...]
    scores: tuple[float, ...]
    max_score: float
    cases: tuple[CaseStats, ...]  # lowest pass rate first
    skipped: tuple[str, ...]  # files that are not readable results, with the reason


def load_results(folder: Path | str) -> tuple[list[dict[str, Any]], list[str]]:
    """The results.json contents under ``folder``, and the files skipped, with why.

    ``folder`` is searched at any depth, hidden files and folders left out; in grade-all's
    output folder (it holds ``gradebook.csv``) only ``results/`` is read, not the history.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"results folder {folder} does not exist; expected a folder of results.json files "
            "(grade-all writes them to OUT/results)"
        )
    if (folder / "gradebook.csv").is_file() and (folder / "results").is_dir():
        folder = folder / "results"
    results, skipped = [], []
    for path in sorted(folder.rglob("*.json")):
        hidden = any(part.startswith(".") for part in path.relative_to(folder).parts)
        if hidden or not path.is_file():
            continue  # files being written, staging folders, folders named *.json
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            _validate(data)
        except (OSError, ValueError, TypeError, RecursionError) as error:
            logger.warning("skipping %s: %s", path, error)
            skipped.append(f"{path.relative_to(folder)}: {error}")
            continue
        results.append(data)
    return results, skipped


def _validate(data: Any) -> None:
    """ValueError unless ``data`` has the fields of a results.json that statistics use."""
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
        raise ValueError("not a results.json (expected an object with a 'tests' list)")
    for test in data["tests"]:
        if not isinstance(test, dict) or not {"name", "status", "score", "max_score"} <= set(test):
            raise ValueError("a test without name, status, score and max_score")
        float(test["score"]), float(test["max_score"])
    float(data.get("score", 0.0))


def failure_message(output: str) -> str:
    """The first line of the ``Failed:`` part of a case's output (the output's first line
    when it has none)."""
    for line in output.splitlines():
        if line.startswith("Failed:"):
            return line.removeprefix("Failed:").strip()
    return (output.strip().splitlines() or ["(no message)"])[0]


def class_stats(results: Iterable[dict[str, Any]], *, skipped: Iterable[str] = ()) -> ClassStats:
    """Statistics of ``results`` (results.json contents); cases sorted by pass rate, then name."""
    results = list(results)
    if not results:
        raise ValueError("no results to summarise: the folder holds no readable results.json")
    runs: dict[str, list[dict[str, Any]]] = {}
    for data in results:
        for test in data["tests"]:
            runs.setdefault(str(test["name"]), []).append(test)
    cases = []
    for name, tests in runs.items():
        failed = Counter(
            failure_message(str(t.get("output", ""))) for t in tests if t["status"] != "passed"
        )
        cases.append(
            CaseStats(
                name,
                str(tests[0].get("visibility", "visible")),
                len(tests),
                len(tests) - failed.total(),
                tuple(failed.most_common()),
            )
        )
    cases.sort(key=lambda case: (case.pass_rate, case.name))
    extras = [data.get("extra_data") or {} for data in results]
    return ClassStats(
        assignments=tuple(sorted({str(e["assignment"]) for e in extras if e.get("assignment")})),
        scores=tuple(float(data.get("score", 0.0)) for data in results),
        max_score=max(
            float(extra.get("max_score") or sum(float(t["max_score"]) for t in data["tests"]))
            for extra, data in zip(extras, results, strict=True)
        ),
        cases=tuple(cases),
        skipped=tuple(skipped),
    )


def _png_data_uri(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def score_histogram(stats: ClassStats) -> Any:
    """Histogram of the submissions' scores, from 0 to the maximum score."""
    import seaborn as sns
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(7, 3.5))
    ax = figure.subplots()
    top = stats.max_score or max(stats.scores) or 1.0
    scores = list(stats.scores)
    if top <= 30 and all(float(value).is_integer() for value in [top, *scores]):
        sns.histplot(x=scores, discrete=True, ax=ax)  # one bar per whole point
        ax.set_xlim(-0.5, top + 0.5)
    else:
        sns.histplot(x=scores, bins=20, binrange=(0, top), ax=ax)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel=f"score (of {points(top)} points)", ylabel="submissions")
    ax.set_title(f"Scores of {len(stats.scores)} submissions")
    return figure


def pass_rate_chart(stats: ClassStats, *, flag_below: float = FLAG_BELOW) -> Any:
    """One bar per case, lowest pass rate at the top; flagged cases in red."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 1 + 0.28 * len(stats.cases)))
    ax = figure.subplots()
    names = [case.name if len(case.name) < 70 else case.name[:67] + "..." for case in stats.cases]
    rates = [100 * case.pass_rate for case in stats.cases]
    colors = ["#c0392b" if case.pass_rate < flag_below else "#4c72b0" for case in stats.cases]
    ax.barh(range(len(names)), rates, color=colors)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(100 * flag_below, color="#555", linestyle="--", linewidth=1)
    ax.set(xlim=(0, 100), xlabel="submissions passing (%)")
    ax.set_title("Pass rate per case")
    return figure


def _case_rows(stats: ClassStats, flag_below: float, top: int) -> list[tuple[str, list[str]]]:
    rows = []
    for case in stats.cases:
        shown = "".join(
            f"<li><strong>{count}&times;</strong> {esc(message)}</li>"
            for message, count in case.failures[:top]
        )
        if len(case.failures) > top:
            others = sum(count for _, count in case.failures[top:])
            shown += (
                f"<li class='muted'>{others} more, {len(case.failures) - top} other messages</li>"
            )
        rows.append(
            (
                "flag" if case.pass_rate < flag_below else "",
                [
                    f"<td>{esc(case.name)}</td>",
                    f"<td>{esc(case.visibility)}</td>",
                    f"<td class='num'>{100 * case.pass_rate:.0f} %</td>",
                    f"<td class='num'>{case.passed} of {case.submissions}</td>",
                    f"<td><ul>{shown}</ul></td>" if shown else "<td></td>",
                ],
            )
        )
    return rows


def stats_html(
    stats: ClassStats, *, flag_below: float = FLAG_BELOW, top: int = TOP_MESSAGES
) -> str:
    """The statistics page as HTML, figures embedded."""
    title = f"Class statistics: {', '.join(stats.assignments) or 'results'}"
    flagged = [case.name for case in stats.cases if case.pass_rate < flag_below]
    scores = stats.scores
    summary = (
        f"{len(scores)} submissions; score mean {statistics.fmean(scores):.2f}, median "
        f"{statistics.median(scores):g}, of {points(stats.max_score)} points; "
        f"{sum(s >= stats.max_score for s in scores)} with full marks."
    )
    parts = [f"<h1>{esc(title)}</h1>", f"<p>{esc(summary)}</p>"]
    if len(stats.assignments) > 1:
        parts.append("<p><strong>These results mix several assignments.</strong></p>")
    parts.append(
        f"<figure><img src='{_png_data_uri(score_histogram(stats))}' alt='score histogram'>"
        "</figure>"
    )
    parts.append("<h2>Pass rate per case</h2>")
    if flagged:
        parts.append(
            f"<p>{len(flagged)} of {len(stats.cases)} cases are passed by fewer than "
            f"{100 * flag_below:g} % of the submissions (highlighted): check that the test is "
            "fair and that the text students read states what it checks.</p>"
        )
    parts.append(
        f"<figure><img src='{_png_data_uri(pass_rate_chart(stats, flag_below=flag_below))}' "
        "alt='pass rate per case'></figure>"
    )
    header = ["case", "visibility", "pass rate", "passed", "most frequent failure messages"]
    parts.append(html_table(header, _case_rows(stats, flag_below, top)))
    if stats.skipped:
        items = "".join(f"<li>{esc(line)}</li>" for line in stats.skipped)
        parts.append(f"<h2>Files skipped</h2><ul>{items}</ul>")
    return html_page(title, "\n".join(parts))


def write_pass_rates(
    stats: ClassStats, path: Path | str, *, flag_below: float = FLAG_BELOW
) -> Path:
    """The per-case pass rates as CSV (lowest first), written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for case in stats.cases:
        writer.writerow(
            {
                "case": case.name,
                "function": split_name(case.name)[0],
                "visibility": case.visibility,
                "submissions": case.submissions,
                "passed": case.passed,
                "pass_rate": round(case.pass_rate, 4),
                "flagged": int(case.pass_rate < flag_below),
            }
        )
    return write_text(path, buffer.getvalue())


def write_stats(
    folder: Path | str,
    out: Path | str,
    *,
    csv_path: Path | str | None = None,
    flag_below: float = FLAG_BELOW,
    top: int = TOP_MESSAGES,
) -> ClassStats:
    """Write the statistics page of the results under ``folder`` to ``out`` and the pass rates
    to ``csv_path`` (default: ``out`` with the suffix ``.csv``)."""
    if not 0 <= flag_below <= 1:
        raise ValueError(f"flag_below is a fraction between 0 and 1, got {flag_below}")
    results, skipped = load_results(folder)
    stats = class_stats(results, skipped=skipped)
    write_text(out, stats_html(stats, flag_below=flag_below, top=top))
    write_pass_rates(stats, csv_path or Path(out).with_suffix(".csv"), flag_below=flag_below)
    return stats
