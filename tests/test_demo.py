"""The demo end to end (quick smoke run) and its report, rendered in headless Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from browser import dump_dom

from course_lib.__main__ import main
from course_lib.pipelines.demo import prepare_demo_dir, run_demo

pytestmark = pytest.mark.slow

SECTIONS = (
    "1. Tiny ImageNet layout",
    "2. Transfer learning",
    "3. Feature similarity",
    "4. Age groups",
    "5a. Grad-CAM",
    "5b. Tensor-train compression",
    "6. Grading",
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    return run_demo(tmp_path_factory.mktemp("demo") / "run", quick=True)


def test_report_has_every_pipeline_and_the_grading_summary(demo):
    html = Path(demo["report"]).read_text(encoding="utf-8")
    for title in SECTIONS:
        assert f"<h2>{title}" in html, title
    images = re.findall(r'<img src="data:image/png;base64,', html)
    assert len(images) >= 12  # grid, curves, heatmaps, similarity, maps, canvas, CAMs
    assert 'src="http' not in html and "src='http" not in html  # self-contained
    assert demo["grading"].startswith("solution: ")
    scored, total = demo["grading"].removeprefix("solution: ").split(" / ")
    assert float(scored) == float(total) > 0  # the solution notebook gets full marks


def test_outputs_are_written_for_every_step(demo):
    out = Path(demo["report"]).parent
    for name in (
        "data_pipeline/class_grid.png",
        "transfer/curves.png",
        "transfer/confusion.png",
        "transfer/history.csv",
        "features/tsne_canvas.png",
        "age/confusion.png",
        "age/pca.png",
        "explain/cams.png",
        "compress/summary.csv",
        "grading/results_solution.json",
    ):
        assert (out / name).is_file(), name
    release = json.loads((out / "grading/results_release.json").read_text())
    assert release["score"] == 0  # the unmodified student release earns nothing


def test_existing_run_folder_is_not_overwritten(demo, capsys):
    out = Path(demo["report"]).parent
    before = (out / "report.html").stat().st_mtime_ns
    assert main(["demo", "--out", str(out), "--quick"]) == 2
    assert "already" in capsys.readouterr().err
    assert (out / "report.html").stat().st_mtime_ns == before


def test_overwrite_replaces_only_what_a_demo_writes(tmp_path):
    out = tmp_path / "run"
    (out / "transfer" / "checkpoints").mkdir(parents=True)
    (out / "transfer" / "checkpoints" / "last.pt").write_bytes(b"old")
    (out / "report.html").write_text("old")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already"):
        prepare_demo_dir(out, overwrite=False)
    assert prepare_demo_dir(out, overwrite=True) == out
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


@pytest.mark.browser
def test_report_renders_with_every_figure_loaded(demo, tmp_path):
    check = (
        "<script>window.addEventListener('load', () => {"
        " const images = [...document.images];"
        " const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).length;"
        " const p = document.createElement('p'); p.id = 'image-check';"
        " p.textContent = `images=${images.length} broken=${broken}`;"
        " document.body.appendChild(p); });</script>"
    )
    page = tmp_path / "report.html"
    html = Path(demo["report"]).read_text(encoding="utf-8")
    page.write_text(html.replace("</body>", check + "</body>"), encoding="utf-8")
    done = dump_dom(page, tmp_path / "profile")
    found = re.search(r'id="image-check">images=(\d+) broken=(\d+)<', done.stdout)
    assert found, f"the page did not finish loading: {done.stderr[-2000:]}"
    images, broken = map(int, found.groups())
    assert images == html.count("<img ") and images >= 12
    assert broken == 0
