"""The widgets fit a notebook column 900 px wide, in the light and the dark theme: nothing
inside them sticks out or scrolls sideways, every table column is on screen, long values
(tokens, jti, URLs) wrap, and the columns that explain keep a readable width. And a
double-clicked Refresh sends one refresh."""

from __future__ import annotations

from pathlib import Path

import pytest

from fortellis_nb.widgets.refresh import DOUBLE_CLICK

from .jupyter import open_notebook, snap

pytestmark = pytest.mark.xdist_group("browser")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
THEMES = ["JupyterLab Light", "JupyterLab Dark"]
COLUMN = 900  # px: the width of a notebook cell in the column a learner reads

# Notebook 04's inspector and 05's refresh panel, on tokens with a refresh behind them.
WIDGETS = [
    "from fortellis_nb.lessons import start, catch_up\n"
    "from fortellis_nb.widgets import AuthorizeLink, NetworkLog, RefreshPanel, TokenInspector\n\n"
    "client = start()\ntokens = catch_up(client)",
    "inspector = TokenInspector(client=client)\ninspector",
    "panel = RefreshPanel(client=client)\npanel",
    "NetworkLog(client=client)",
    "AuthorizeLink(client=client)",
]

# Every element of each widget whose box sticks out of the widget's, or that scrolls sideways;
# and each table's columns, with their widths.
MEASURE = """
(selector) => {
  const found = {widgets: 0, outside: [], scrolls: [], tables: []};
  const name = (el) => el.tagName.toLowerCase() + (el.className && typeof el.className === 'string'
    ? '.' + el.className.trim().split(/\\s+/).join('.') : '') + ' "' + (el.innerText || '').slice(0, 40) + '"';
  for (const root of document.querySelectorAll(selector)) {
    if (!root.getClientRects().length) continue;
    found.widgets += 1;
    const box = root.getBoundingClientRect();
    for (const el of [root, ...root.querySelectorAll('*')]) {
      if (!el.getClientRects().length || el.tagName === 'STYLE') continue;
      const r = el.getBoundingClientRect();
      if (r.width && (r.left < box.left - 1 || r.right > box.right + 1)) found.outside.push(name(el));
      const style = getComputedStyle(el);
      const clipsOnPurpose = style.textOverflow === 'ellipsis';
      if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth && !clipsOnPurpose) found.scrolls.push(name(el));
    }
    for (const table of root.querySelectorAll('table')) {
      if (!table.getClientRects().length) continue;
      const head = table.rows[0];
      found.tables.push({
        where: name(table.closest('.widget-html') || table),
        columns: [...head.cells].map(c => ({name: c.innerText.trim(), width: Math.round(c.getBoundingClientRect().width)})),
      });
    }
  }
  return found;
}
"""

# Columns that explain, and the least width they need to be read (about 25 characters a line).
EXPLAINING = {"what it means": 220, "what it is for": 220}


def set_column_width(page, nb, width: int) -> None:
    """Resize the window so the notebook's cells are ``width`` px wide."""
    cell = nb.cell(0)
    for _ in range(3):
        now = cell.evaluate("el => el.getBoundingClientRect().width")
        if abs(now - width) < 2:
            return
        size = page.viewport_size
        page.set_viewport_size({"width": round(size["width"] + width - now), "height": size["height"]})
        page.wait_for_function(
            "([el, was]) => Math.abs(el.getBoundingClientRect().width - was) > 1", arg=[cell.element_handle(), now])
    assert abs(cell.evaluate("el => el.getBoundingClientRect().width") - width) < 2


def top_of(locator) -> None:
    """Scroll so ``locator`` is at the top of the notebook (for its screenshot)."""
    locator.evaluate("el => el.scrollIntoView({block: 'start'})")


def assert_fits(page, where: str, widgets: int) -> dict:
    found = page.evaluate(MEASURE, ".jp-OutputArea-output .fnb-widget")
    assert found["widgets"] >= widgets, found
    assert not found["outside"], f"{where}: sticks out of the widget: {found['outside'][:10]}"
    assert not found["scrolls"], f"{where}: scrolls sideways: {found['scrolls'][:10]}"
    for table in found["tables"]:
        for column in table["columns"]:
            assert column["width"] >= EXPLAINING.get(column["name"], 24), f"{where}: {table}"
    return found


@pytest.mark.parametrize("theme", THEMES)
def test_widgets_fit_a_900px_column(jupyter_lab, page, workdir, theme):
    path = jupyter_lab.write_notebook(f"{workdir}/fits.ipynb", WIDGETS)
    nb = open_notebook(page, jupyter_lab, path)
    nb.run_all()
    nb.by_class("fnb-checklist").filter(has_text="every check passed").first.wait_for()
    set_column_width(page, nb, COLUMN)
    nb.click_button("Refresh token")
    nb.by_class("fnb-changes").filter(has_text="What changed").first.wait_for()
    nb.click_button("Show the raw JSON response", exact=False)
    nb.by_class("fnb-raw").filter(has_text="access_token").first.wait_for()
    try:
        nb.use_theme(theme)
        access = assert_fits(page, f"{theme}, the access token's tab", 4)
        clock = nb.by_class("fnb-expiry").locator(".fnb-clock").first.bounding_box()
        assert clock and clock["width"] >= 8 and clock["height"] >= 8  # drawn, not a missing glyph
        columns = {c["name"] for t in access["tables"] for c in t["columns"]}
        assert {"what it means", "before", "after", "check", "what it is for"} <= columns, access["tables"]
        top_of(nb.by_class("fnb-checklist").first)
        snap(page, f"{theme}: the inspector's checklist at {COLUMN} px")
        top_of(nb.by_class("fnb-claims").first)
        snap(page, f"{theme}: the access token's claims at {COLUMN} px")
        nb.outputs.get_by_role("tab", name="ID token").click()
        nb.by_class("fnb-claims").filter(has_text="at_hash").first.wait_for()
        assert_fits(page, f"{theme}, the ID token's tab", 4)
        top_of(nb.by_class("fnb-claims").filter(has_text="at_hash").first)
        snap(page, f"{theme}: the ID token's claims at {COLUMN} px")
        top_of(nb.by_class("fnb-refresh").first)
        snap(page, f"{theme}: the refresh panel at {COLUMN} px")
        for row in nb.by_class("fnb-network-log").locator("summary").all():
            row.click()
        assert_fits(page, f"{theme}, the network log opened", 4)
        head, row = nb.by_class("fnb-network-log").first.evaluate(
            "el => [el.querySelector('.fnb-log-head'), el.querySelector('summary')].map("
            "row => [...row.children].map(c => Math.round(c.getBoundingClientRect().left)))")
        assert head == row, "the network log's headings stand over their columns"
        top_of(nb.by_class("fnb-network-log").first)
        snap(page, f"{theme}: the network log at {COLUMN} px")
        top_of(nb.by_class("fnb-parameters").first)
        snap(page, f"{theme}: the authorize URL's parameters at {COLUMN} px")
    finally:
        nb.use_theme("JupyterLab Light")


@pytest.mark.parametrize("theme", THEMES)
def test_notebooks_04_and_05_fit(jupyter_lab, page, workdir, theme):
    """The inspector of notebook 04 and the refresh panel of 05, as a learner runs them."""
    notebooks_04_and_05_fit(jupyter_lab, page, workdir, theme)


def test_notebooks_04_and_05_fit_in_notebook7(jupyter_notebook7, page, workdir):
    notebooks_04_and_05_fit(jupyter_notebook7, page, workdir, "JupyterLab Light")


def notebooks_04_and_05_fit(server, page, workdir: str, theme: str) -> None:
    path = server.copy_in(NOTEBOOKS / "04-inspect-and-verify-tokens.ipynb", f"{workdir}/04.ipynb")
    nb = open_notebook(page, server, path)
    set_column_width(page, nb, COLUMN)
    nb.run_all()
    nb.by_class("fnb-checklist").filter(has_text="every check passed").first.wait_for()
    try:
        nb.use_theme(theme)
        found = assert_fits(page, f"{theme}, notebook 04", 1)
        assert any(c["name"] == "what it means" for t in found["tables"] for c in t["columns"]), found["tables"]
        top_of(nb.by_class("fnb-inspector").first)
        snap(page, f"{theme}: notebook 04's inspector at {COLUMN} px")
        top_of(nb.by_class("fnb-claims").first)
        snap(page, f"{theme}: notebook 04's claims at {COLUMN} px")

        path = server.copy_in(NOTEBOOKS / "05-refresh-tokens.ipynb", f"{workdir}/05.ipynb")
        nb = open_notebook(page, server, path)
        set_column_width(page, nb, COLUMN)
        nb.run_all()
        nb.click_button("Refresh token")
        nb.by_class("fnb-changes").filter(has_text="What changed").first.wait_for()
        found = assert_fits(page, f"{theme}, notebook 05", 1)
        assert any(c["name"] == "after" for t in found["tables"] for c in t["columns"]), found["tables"]
        top_of(nb.by_class("fnb-refresh").first)
        snap(page, f"{theme}: notebook 05's refresh panel at {COLUMN} px")
    finally:
        nb.use_theme("JupyterLab Light")


def test_error_cards_set_backticked_names_as_code(jupyter_lab, page, workdir):
    """Notebook 04's "an ID token is not an access token": the report's hint names
    `api_providers`, shown as code, not between backticks."""
    path = jupyter_lab.write_notebook(f"{workdir}/card.ipynb", [
        WIDGETS[0],
        "from fortellis_nb.lessons import explain\nfrom fortellis_nb.oauth import FortellisError\n\n"
        "try:\n    client.verify(tokens.id_token, 'access')\nexcept FortellisError as error:\n"
        "    display(explain(error))"])
    nb = open_notebook(page, jupyter_lab, path)
    nb.run_all()
    card = nb.outputs.locator(".fnb-error").filter(has_text="What to do").first
    card.wait_for()
    snap(page, "an error card")
    assert "`" not in card.inner_text()
    assert "api_providers" in card.locator("code").all_inner_texts()


def test_the_playground_fits_a_900px_column(jupyter_lab, page, workdir):
    """Every step of the playground filled in (the redirect's table, the API's answer too)."""
    path = jupyter_lab.write_notebook(f"{workdir}/playground.ipynb", [
        "from fortellis_nb.widgets import Playground\n\nplayground = Playground()\nplayground",
        "playground.run_unattended();"])
    nb = open_notebook(page, jupyter_lab, path)
    set_column_width(page, nb, COLUMN)
    nb.run_all()
    nb.by_class("fnb-api-response").filter(has_text="Sandbox Motors").first.wait_for()
    assert_fits(page, "the playground", 1)
    for part in ("fnb-parsed", "fnb-changes", "fnb-api-response"):
        top_of(nb.by_class(part).first)
        snap(page, f"the playground's {part} at {COLUMN} px")


def test_a_double_clicked_refresh_sends_one_refresh(jupyter_lab, page, workdir):
    two_from_code = "panel.refresh_button.click()\npanel.refresh_button.click()  # code's clicks are each a refresh"
    path = jupyter_lab.write_notebook(f"{workdir}/double.ipynb", [WIDGETS[0], WIDGETS[2], two_from_code, WIDGETS[3]])
    nb = open_notebook(page, jupyter_lab, path)
    nb.run_all()
    from playwright.sync_api import expect  # where Playwright is missing, the fixtures skip first

    refreshes = nb.by_class("fnb-network-log").locator("summary").filter(has_text="Refresh")
    expect(refreshes).to_have_count(2, timeout=30_000)
    # The button is off while a refresh is on the wire: on a busy machine the page may still
    # show the code's refreshes running. A person waits for it to come back on; so does this.
    expect(nb.button("Refresh token")).to_be_enabled(timeout=30_000)
    # The two clicks of a double-click, both sent before the page hears that the first one
    # turned the button off (a person's double-click may be as quick): the kernel gets both.
    nb.button("Refresh token").evaluate("button => { button.click(); button.click(); }")
    # The second click reached the kernel (sent before the button could turn off) and was let go.
    nb.by_class("fnb-notes").filter(has_text="A double-click").first.wait_for()
    snap(page, "after a double-click on Refresh token")
    # The kernel may read the second click while the first one's refresh is on the wire, so the
    # note can come before the log's new row. Two clicks, one new row.
    expect(refreshes).to_have_count(3, timeout=30_000)
    # A click of its own, as a person makes it after reading the table, is a refresh of its own.
    page.wait_for_timeout(DOUBLE_CLICK * 1000)
    nb.click_button("Refresh token")
    expect(refreshes).to_have_count(4, timeout=30_000)  # not 5: the double-click sent one refresh
