"""The browser-test machinery works end to end, in JupyterLab and in Notebook 7: a widget
button clicked in the page changes the kernel's state, saving from the UI writes the
widgets' state to disk, and a link from a notebook reaches the sandbox in a new tab."""

from __future__ import annotations

import time

import pytest

from .jupyter import IdleKernelShownBusy, RunAllNeverReachedTheKernel, iter_widget_states, open_notebook, snap

pytestmark = pytest.mark.xdist_group("browser")

PRESS_ME = """\
import ipywidgets as widgets

presses = 0
status = widgets.HTML("not pressed")

def on_press(button):
    global presses
    presses += 1
    status.value = f"pressed {presses}"

button = widgets.Button(description="Press me")
button.on_click(on_press)
widgets.VBox([button, status])
"""


def test_button_click_reaches_the_kernel_and_saved_file_keeps_widget_state(jupyter, page, workdir):
    path = jupyter.write_notebook(f"{workdir}/press.ipynb", [("markdown", "# Press me"), PRESS_ME])

    nb = open_notebook(page, jupyter, path)
    snap(page, "opened")
    assert nb.widget_state_saving(), "Settings > Save Widget State Automatically should be on"

    nb.run_all()
    nb.wait_for_output("not pressed")
    snap(page, "ran all cells")

    nb.click_button("Press me")
    nb.wait_for_output("pressed 1")
    snap(page, "pressed once")

    saved = nb.save()
    snap(page, "saved")

    states = dict(iter_widget_states(saved))
    buttons = [s["state"] for s in states.values() if s["model_name"] == "ButtonModel"]
    htmls = [s["state"] for s in states.values() if s["model_name"] == "HTMLModel"]
    assert [b["description"] for b in buttons] == ["Press me"]
    assert [h["value"] for h in htmls] == ["pressed 1"]
    # The output refers to the saved model, so the widget comes back when the file is reopened.
    view = saved.cells[1].outputs[0]["data"]["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] in states


SANDBOX_LINK = """\
from fortellis_nb.sandbox import ensure_sandbox
from IPython.display import HTML

info = ensure_sandbox()
HTML(f'<a href="{info.redirect_uri}?code=demo&state=s" target="_blank">callback</a>')
"""

PASTE_BOX = """\
import ipywidgets as widgets

pasted = widgets.Text(description="Redirect URL", continuous_update=False)
echo = widgets.HTML("nothing pasted")
pasted.observe(lambda change: setattr(echo, "value", f"received {change['new']}"), "value")
widgets.VBox([pasted, echo])
"""


def test_sandbox_callback_page_opens_from_a_notebook_link(jupyter_lab, page, workdir):
    path = jupyter_lab.write_notebook(f"{workdir}/link.ipynb", [SANDBOX_LINK, PASTE_BOX])

    nb = open_notebook(page, jupyter_lab, path)
    nb.run_all(via="palette")
    link = nb.wait_for_output("callback", cell=0).get_by_role("link", name="callback")
    snap(page, "link shown")

    callback = nb.follow_link_to_new_tab(link)
    callback.get_by_role("heading", name="Back from the sign-in").wait_for()
    snap(callback, "callback page")
    url = callback.get_by_label("The URL this page was reached with").input_value()
    assert url == callback.url
    assert url.endswith("/callback/?code=demo&state=s")
    # The kernel's sandbox is the test session's own, not the user's.
    assert (jupyter_lab.sandbox_state / "server.json").exists()

    # What a learner does next: paste the address into the notebook.
    page.bring_to_front()
    nb.fill("Redirect URL", url)
    nb.wait_for_output(f"received {url}", cell=1)
    snap(page, "url pasted")


def test_the_browser_benchmark_runs_once(jupyter_lab, browser):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import browser_exchange

    result = browser_exchange.measure(repetitions=1, server=jupyter_lab, browser=browser)
    assert result["repetitions"] == 1 and 0 < result["median_ms"] < 60_000


def test_a_run_all_that_never_reaches_the_kernel_is_told_apart(jupyter_lab, page, workdir):
    """The harness names the one front-end failure it runs a test again for: the page queues
    the cells of a Run All and the kernel hears nothing. Made here by having the page's
    websockets drop what they send, from just before the click."""
    path = jupyter_lab.write_notebook(f"{workdir}/quiet.ipynb", ["1 + 1"])
    nb = open_notebook(page, jupyter_lab, path)
    nb.wait_for_kernel_idle()
    page.evaluate("""() => {
      window.fnbDropped = 0;
      WebSocket.prototype.send = function () { window.fnbDropped += 1; };
    }""")
    with pytest.raises(RunAllNeverReachedTheKernel, match="no message since the click"):
        nb.run_all()
    snap(page, "queued, never sent")
    assert page.evaluate("window.fnbDropped") >= 1, "the click sent nothing to drop"
    assert nb.kernel()["execution_state"] == "idle"


def test_an_idle_kernel_the_page_does_not_show_idle_is_told_apart_from_a_busy_one(jupyter_lab, page, workdir):
    """The other front-end failure the harness runs a test again for: the server says the kernel
    is idle, the page's indicator does not. Made here by hiding the indicator; a kernel that is
    really busy is a plain timeout, never run again."""
    path = jupyter_lab.write_notebook(f"{workdir}/shown.ipynb", ["import time; time.sleep(8)"])
    nb = open_notebook(page, jupyter_lab, path)
    nb.wait_for_kernel_idle()
    page.add_style_tag(content=".jp-Notebook-ExecutionIndicator { display: none !important; }")
    with pytest.raises(IdleKernelShownBusy, match="is idle with 1 connection"):
        nb.wait_for_kernel_idle(timeout=2000)
    page.add_style_tag(content=".jp-Notebook-ExecutionIndicator { display: flex !important; }")
    nb.start_run_all()
    before = nb._activity_before_run_all  # read just before the click
    deadline = time.monotonic() + 30
    while (kernel := nb.kernel())["execution_state"] != "busy":  # the server's word: the cell runs
        if time.monotonic() > deadline:
            if kernel["last_activity"] == before:  # the front end's hiccup: the harness runs this again
                raise RunAllNeverReachedTheKernel(f"Run All in {nb.rel}: no message reached the kernel in 30 s")
            pytest.fail("the kernel had messages but never ran the cell")
        time.sleep(0.1)
    with pytest.raises(TimeoutError, match=r"is busy\b.* after 2 s") as caught:  # whichever wait runs out first
        nb.wait_for_kernel_idle(timeout=2000)
    assert not isinstance(caught.value, IdleKernelShownBusy)
    nb.wait_for_kernel_idle(timeout=60_000)


# Wraps every WebSocket the page opens so that, once ``window.fnbDeaf`` is set, what the
# server sends never reaches JupyterLab: a reply lost on the way, as a busy machine can lose one.
_DEAF_AFTER_A_FLAG = """(() => {
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    set onmessage(handler) { super.onmessage = event => { if (!window.fnbDeaf) handler(event); }; }
    get onmessage() { return super.onmessage; }
  };
})();"""


def test_a_run_all_past_its_time_says_whose_it_is(jupyter_lab, page, workdir):
    """A Run All whose replies the page never shows while the kernel is idle is the front end's
    (IdleKernelShownBusy, run once more); one whose kernel is still busy is a plain timeout that
    names the cell it is at and what it printed."""
    page.add_init_script(_DEAF_AFTER_A_FLAG)
    path = jupyter_lab.write_notebook(f"{workdir}/lost.ipynb", ["print('ran')", "import time; time.sleep(1)"])
    nb = open_notebook(page, jupyter_lab, path)
    nb.wait_for_kernel_idle()
    page.evaluate("window.fnbDeaf = true")
    nb.start_run_all()
    with pytest.raises(IdleKernelShownBusy, match=r"the kernel is idle with 1 connection.*cell 0 shows '\[\*\]:'"):
        nb.wait_run_all(timeout=4000)
    snap(page, "replies lost, the kernel idle")

    path = jupyter_lab.write_notebook(f"{workdir}/busy.ipynb", ["print('started', flush=True)\nimport time; time.sleep(30)"])
    nb = open_notebook(page, jupyter_lab, path)
    nb.wait_for_kernel_idle()
    nb.start_run_all()
    with pytest.raises(TimeoutError, match=r"the kernel is busy; cell 0 shows '\[\*\]:', its output ending 'started") \
            as caught:
        nb.wait_run_all(timeout=4000)
    assert not isinstance(caught.value, IdleKernelShownBusy)
    jupyter_lab.api(f"api/kernels/{nb.kernel()['id']}/interrupt", method="POST")
    nb.wait_for_kernel_idle()
