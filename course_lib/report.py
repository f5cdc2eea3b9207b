"""A self-contained HTML report: figures embedded as data URIs, tables, short texts."""

from __future__ import annotations

import base64
import html
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from course_lib.files import write_text

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3em; }
section { margin: 2em 0; }
figure { display: inline-block; margin: .5em; vertical-align: top; text-align: center; }
figure img { max-width: 520px; max-height: 520px; border: 1px solid #ddd; }
figcaption { font-size: .85em; color: #555; }
table { border-collapse: collapse; margin: .5em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f4f4f4; }
pre { background: #f8f8f8; padding: .6em; overflow-x: auto; }
"""


@dataclass(frozen=True)
class Section:
    """One part of the report: a title, a paragraph, figures and named tables."""

    title: str
    text: str = ""
    figures: Sequence[Path] = field(default_factory=tuple)
    tables: Sequence[tuple[str, pd.DataFrame]] = field(default_factory=tuple)
    preformatted: str = ""


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    payload = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:{mime};base64,{payload}"


def _section_html(section: Section) -> str:
    parts = [f"<section><h2>{html.escape(section.title)}</h2>"]
    if section.text:
        parts.append(f"<p>{html.escape(section.text)}</p>")
    for name, table in section.tables:
        parts.append(f"<h3>{html.escape(name)}</h3>")
        parts.append(table.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0))
    if section.preformatted:
        parts.append(f"<pre>{html.escape(section.preformatted)}</pre>")
    for figure in section.figures:
        figure = Path(figure)
        if not figure.is_file():
            raise FileNotFoundError(f"report figure {figure} does not exist")
        parts.append(
            f'<figure><img src="{_data_uri(figure)}" alt="{html.escape(figure.stem)}">'
            f"<figcaption>{html.escape(figure.name)}</figcaption></figure>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def write_report(sections: Sequence[Section], path: Path, *, title: str) -> Path:
    """Write ``sections`` as one HTML file that needs nothing else to display."""
    path = Path(path)
    body = "\n".join(_section_html(section) for section in sections)
    document = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )
    return write_text(path, document)
