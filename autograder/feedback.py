"""Feedback pages students can read: one self-contained HTML page per results.json.

The page is built from the results' content only, so it shows nothing results.json does not:
the score per function and case, the public cases with their details, the hidden cases as
pass/fail lines (named, with the reason results.json gives, only when their visibility lets
Gradescope show them), the notes and the sandbox. Every text taken from the results is escaped
(outputs hold student text), and the page's Content-Security-Policy lets no script run.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from course_lib.files import write_text

NEVER_SHOWN = "hidden"  # Gradescope's visibility of a case students never see
OTHER_HIDDEN = "other hidden cases"  # where cases never shown to students are counted
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 960px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
pre { background: #f8f8f8; padding: .6em; margin: .3em 0 .8em; overflow-x: auto;
      white-space: pre-wrap; overflow-wrap: anywhere; }
tr.passed td.status { color: #2a8a3e; font-weight: bold; }
tr.failed td.status { color: #c0392b; font-weight: bold; }
td pre { margin: 0; padding: .3em; font-size: .85em; }
.tag { font-size: .75em; background: #eee; border-radius: 3px; padding: 0 .4em; color: #555; }
tr.flag td { background: #fdecea; }
.score { font-size: 1.3em; }
.muted { color: #666; font-size: .9em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
"""


def esc(value: Any) -> str:
    """``value`` as HTML text (quotes included)."""
    return html.escape(str(value), quote=True)


def points(value: Any) -> str:
    """A score as Gradescope shows it: ``2.0`` -> ``2``."""
    return f"{float(value):g}"


def html_page(title: str, body: str) -> str:
    """A complete page around ``body`` (HTML): inline style, no external asset, no script."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def html_table(header: Iterable[str], rows: Iterable[tuple[str, list[str]]]) -> str:
    """A table; ``rows`` are (CSS class of the row, cells as HTML). Cells are not escaped here."""
    head = "".join(f"<th>{esc(name)}</th>" for name in header)
    body = "".join(f"<tr class='{css}'>" + "".join(cells) + "</tr>" for css, cells in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def feedback_path(out: Path | str) -> Path:
    """The feedback page of the results file ``out``: ``alice.json`` -> ``alice.html``."""
    out = Path(out)
    return out.with_name(out.name.removesuffix(".json") + ".html")


def split_name(name: str) -> tuple[str, str]:
    """``"function: case title"`` -> (function, title); a name without ``": "`` is a function."""
    function, _, title = name.partition(": ")
    return function, title or name


def notes_of(results: dict[str, Any]) -> list[str]:
    """The notes listed in the results' output (after its ``Notes:`` line)."""
    block = str(results.get("output", "")).partition("\nNotes:")[2]
    return [line.removeprefix("- ") for line in block.strip().splitlines() if line.strip()]


def sandbox_line(results: dict[str, Any]) -> str:
    """The sandbox mode that ran and what it guarantees, or '' when no sandbox ran."""
    extra = results.get("extra_data") or {}
    mode, guarantees = extra.get("sandbox", ""), extra.get("sandbox_guarantees", "")
    if not mode:
        return ""
    return f"Sandbox: {mode}" + (f" ({guarantees})." if guarantees else ".")


def _status(test: dict[str, Any]) -> str:
    return "passed" if test.get("status") == "passed" else "failed"


def _result_cells(test: dict[str, Any]) -> list[str]:
    return [
        f"<td class='status'>{_status(test)}</td>",
        f"<td class='num'>{points(test['score'])} / {points(test['max_score'])}</td>",
    ]


def _is_public(test: dict[str, Any]) -> bool:
    return test.get("visibility", "visible") == "visible"


def _case_row(test: dict[str, Any]) -> tuple[str, list[str]]:
    tag = "" if _is_public(test) else " <span class='tag'>hidden</span>"
    return _status(test), _result_cells(test) + [
        f"<td>{esc(split_name(test['name'])[1])}{tag}</td>",
        f"<td><pre>{esc(test.get('output', ''))}</pre></td>",
    ]


def _function_html(function: str, tests: list[dict[str, Any]]) -> str:
    """A heading and one row per case: public cases first, then hidden ones (tagged)."""
    ordered = sorted(tests, key=lambda test: not _is_public(test))  # stable: keeps case order
    parts = [
        f"<h2 id='{esc(function)}'>{esc(function)}</h2>",
        html_table(["result", "points", "case", "feedback"], map(_case_row, ordered)),
    ]
    if not all(map(_is_public, tests)):
        parts.append(
            "<p class='muted'>Hidden cases show no inputs, expected values or error details.</p>"
        )
    return "\n".join(parts)


def _score_rows(groups: dict[str, list[dict[str, Any]]]) -> list[tuple[str, list[str]]]:
    rows = []
    for function, tests in groups.items():
        passed = sum(t.get("status") == "passed" for t in tests)
        score = sum(float(t["score"]) for t in tests)
        top = sum(float(t["max_score"]) for t in tests)
        label = f"<a href='#{esc(function)}'>{esc(function)}</a>" if function else OTHER_HIDDEN
        rows.append(
            (
                "passed" if passed == len(tests) else "failed",
                [
                    f"<td>{label}</td>",
                    f"<td class='num'>{points(score)} / {points(top)}</td>",
                    f"<td class='num'>{passed} of {len(tests)}</td>",
                ],
            )
        )
    return rows


def feedback_html(results: dict[str, Any]) -> str:
    """The feedback page of ``results`` (the content of a results.json) as HTML."""
    extra = results.get("extra_data") or {}
    tests = results.get("tests", [])
    groups: dict[str, list[dict[str, Any]]] = {}
    never_shown = [t for t in tests if t.get("visibility") == NEVER_SHOWN]
    for test in tests:
        if test.get("visibility") != NEVER_SHOWN:
            groups.setdefault(split_name(test["name"])[0], []).append(test)
    assignment = extra.get("assignment", "")
    top = extra.get("max_score", sum(float(t["max_score"]) for t in tests))
    passed = sum(t.get("status") == "passed" for t in tests)
    parts = [
        f"<h1>Feedback: {esc(assignment or 'assignment')}</h1>",
        f"<p class='muted'>Submission: {esc(extra.get('submission', ''))}</p>",
        f"<p class='score'><strong>{points(results.get('score', 0))} / {points(top)} points"
        f"</strong>, {passed} of {len(tests)} cases passed.</p>",
    ]
    if line := sandbox_line(results):
        parts.append(f"<p class='muted'>{esc(line)}</p>")
    if notes := notes_of(results):
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    rows = _score_rows(groups | ({"": never_shown} if never_shown else {}))
    parts += ["<h2>Score per function</h2>", html_table(["function", "points", "cases"], rows)]
    parts += [_function_html(function, group) for function, group in groups.items()]
    if never_shown:
        rows = [(_status(test), _result_cells(test)) for test in never_shown]
        parts += [f"<h2>{OTHER_HIDDEN.capitalize()}</h2>", html_table(["result", "points"], rows)]
    return html_page(
        f"Feedback: {assignment} {extra.get('submission', '')}".strip(), "\n".join(parts)
    )


def write_feedback(results: dict[str, Any], path: Path | str) -> Path:
    """Write the feedback page of ``results`` (the content of a results.json) atomically."""
    return write_text(path, feedback_html(results))
