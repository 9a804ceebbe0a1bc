"""The HTML leaderboard: best values marked per dataset, recipe and model filters, figures that exist."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mmbench.cli import main
from mmbench.results.html_page import best_cells, to_html
from mmbench.results.leaderboard import KEY
from mmbench.results.tables import View
from test_headline import kd_records
from test_leaderboard import quickstart_records, write_all

VIEW = View("models", KEY, lambda recs, metric: [], None, "note")


class Page(HTMLParser):
    """What the tests read from a page: its tables (rows of (row attributes, [(cell attributes, text)])),
    its controls, its images and figures, and the scripts' text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: list[list[tuple[dict[str, Any], list[tuple[dict[str, Any], str]]]]] = []
        self.ids: dict[str, tuple[str, dict[str, Any]]] = {}
        self.options: list[str] = []
        self.images: list[dict[str, Any]] = []
        self.figures: list[tuple[dict[str, Any], bool]] = []  # attributes, inside <details>
        self.script = ""
        self._cell: list[str] | None = None
        self._in: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "id" in a:
            self.ids[str(a["id"])] = (tag, a)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and "tbody" in self._in:
            self.tables[-1].append((a, []))
        elif tag == "td":
            self.tables[-1][-1][1].append((a, ""))
            self._cell = []
        elif tag == "option":
            self.options.append(str(a.get("value")))
        elif tag == "img":
            self.images.append(a)
        elif tag == "figure":
            self.figures.append((a, "details" in self._in))
        if tag not in ("img", "input", "meta"):
            self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            attrs, _ = self.tables[-1][-1][1][-1]
            self.tables[-1][-1][1][-1] = (attrs, "".join(self._cell))
            self._cell = None
        if tag in self._in:
            del self._in[len(self._in) - 1 - self._in[::-1].index(tag):]

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in and self._in[-1] == "script":
            self.script += data


def row(recipe: str, component: str, ndcg: float, latency: float | None, cold: float = 0.0,
        dataset: str = "d") -> dict[str, Any]:
    out = {"recipe": recipe, "dataset": dataset, "split": "s", "role": "student", "component": component,
           "seeds": 3, "NDCG@10": ndcg, "NDCG@10[cold]": cold, "params": 100}
    if latency is not None:
        out["latency_ms_p50"] = latency
    return out


def bold(table: list[tuple[dict[str, Any], list[tuple[dict[str, Any], str]]]]) -> set[tuple[str, int]]:
    """(recipe of the row, column index) of every cell marked best."""
    return {(cells[0][1], i) for _, cells in table for i, (a, _) in enumerate(cells) if a.get("class") == "best"}


def test_best_value_of_each_column_within_its_dataset() -> None:
    rows = [row("a", "mf", 0.30, 2.0), row("b", "lightgcn", 0.35, 3.0), row("c", "lightgcn", 0.35, None),
            row("x", "mf", 0.10, 9.0, dataset="e"), row("y", "mf", 0.12, 8.0, cold=0.01, dataset="e")]
    page = Page(to_html(rows, VIEW))
    d, e = page.tables
    # columns: recipe, role, component, seeds, NDCG@10, NDCG@10[cold], params, latency_ms_p50
    # NDCG@10 ↑: a tie, both bold; latency ↓: the lowest of the rows that have one; seeds, params, the
    # all-zero cold column: equal everywhere, nothing is best
    assert bold(d) == {("b", 4), ("c", 4), ("a", 7)}
    # another dataset is its own contest: its best NDCG@10 is lower than every one of "d"
    assert bold(e) == {("y", 4), ("y", 5), ("y", 7)}
    assert best_cells(rows[:1], ["NDCG@10"]) == set()  # one row: nothing to compare


def test_filter_controls_and_row_attributes() -> None:
    rows = [row("beauty-kd", "mf", 0.30, 2.0), row("beauty-kd", "lightgcn", 0.35, 3.0),
            row("tiktok-kd", "lightgcn", 0.2, 1.0, dataset="t")]
    text = to_html(rows, VIEW)
    page = Page(text)
    assert page.ids["f-recipe"][0] == "input" and page.ids["f-model"][0] == "select"
    assert page.options == ["", "lightgcn", "mf"]  # "all", then every model of the page once
    assert [(a["data-recipe"], a["data-model"]) for table in page.tables for a, _ in table] == [
        ("beauty-kd", "mf"), ("beauty-kd", "lightgcn"), ("tiktok-kd", "lightgcn")]
    assert "f-recipe" in page.script and "tr.hidden" in page.script and "figure[data-recipe]" in page.script
    assert text.count("<script") == 1 and "http" not in text and "<link" not in text  # offline, one file


def test_a_view_without_a_recipe_or_model_column_has_no_such_control() -> None:
    view = View("x", ("dataset", "split"), lambda recs, metric: [], None, "note")
    page = Page(to_html([{"dataset": "d", "split": "s", "seeds": 1, "NDCG@10": 0.1}], view))
    assert "f-recipe" not in page.ids and "f-model" not in page.ids and "f-count" not in page.ids


def test_cli_html_with_plots_shows_figures_that_exist(tmp_path: Path) -> None:
    results, site = tmp_path / "results", tmp_path / "site"
    write_all(results, kd_records() + kd_records("beauty-kd-2") + quickstart_records())
    out = site / "leaderboard.html"
    result = CliRunner().invoke(main, ["leaderboard", "--results-dir", str(results), "--format", "html", "-o",
                                       str(out), "--plot", str(site / "plots")])
    assert result.exit_code == 0, result.output
    page = Page(out.read_text())
    sources = [img["src"] for img in page.images]
    assert sources and all(not s.startswith(("/", "http", "data:")) for s in sources)  # relative to the page
    assert all((out.parent / s).is_file() for s in sources)
    pngs = sorted(p.name for p in (site / "plots").iterdir())
    assert sorted(Path(s).name for s in sources) == pngs  # every figure written is on the page, once
    headline = [a for a, folded in page.figures if not folded]
    assert len(headline) == 2 and not any("data-recipe" in a for a in headline)  # overview and Pareto chart
    folded = sorted(a["data-recipe"] for a, inside in page.figures if inside)
    assert folded == ["beauty-kd", "beauty-kd-2"]  # one robustness figure per recipe, filterable by recipe
    assert any(a.get("class") == "best" for table in page.tables for _, cells in table for a, _ in cells)


def test_html_without_plots_is_unchanged_by_them(tmp_path: Path) -> None:
    write_all(tmp_path, quickstart_records())
    plain = CliRunner().invoke(main, ["leaderboard", "--results-dir", str(tmp_path), "--format", "html"])
    assert plain.exit_code == 0 and "<img" not in plain.stdout and "<figure" not in plain.stdout


def _chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def _rendered(path: Path, fragment: str) -> Page:
    """The page's DOM after its scripts ran in headless Chromium, opened at ``path#fragment``."""
    browser = _chromium()
    assert browser is not None
    out = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=2000",
                          "--dump-dom", f"{path.resolve().as_uri()}#{fragment}"],
                         capture_output=True, text=True, timeout=120, check=True)
    return Page(out.stdout)


@pytest.mark.skipif(_chromium() is None, reason="needs a headless Chromium (apt install chromium)")
def test_best_marks_follow_the_filter_in_a_browser(tmp_path: Path) -> None:
    rows = [row("beauty-kd", "mf", 0.30, 2.0), row("beauty-kd", "lightgcn", 0.35, 3.0),
            row("beauty-plain", "mf", 0.20, 1.0), row("tiktok-kd", "lightgcn", 0.2, 1.0, dataset="t")]
    path = tmp_path / "lb.html"
    path.write_text(to_html(rows, VIEW))
    # unfiltered, the script's marks are the server's (both implement one rule)
    assert [bold(t) for t in _rendered(path, "").tables] == [bold(t) for t in Page(path.read_text()).tables]
    # model mf only: beauty-kd/lightgcn is hidden, so beauty-kd/mf now has the best NDCG@10 of what is shown
    page = _rendered(path, "model=mf")
    shown = [(cells[0][1], a.get("hidden")) for a, cells in page.tables[0]]
    assert shown == [("beauty-kd", None), ("beauty-kd", ""), ("beauty-plain", None)]
    marked = {(a["data-recipe"], a["data-model"], i) for a, cells in page.tables[0]
              for i, (c, _) in enumerate(cells) if c.get("class") == "best"}
    assert marked == {("beauty-kd", "mf", 4), ("beauty-plain", "mf", 7)}
    # recipe and model together: one row left, so nothing is best; the other dataset's lone row neither
    page = _rendered(path, "recipe=beauty-k*&model=mf")
    assert bold(page.tables[0]) == set() and bold(page.tables[1]) == set()
