"""One style sheet for every widget, written with JupyterLab's theme variables so it reads
in the light and the dark theme alike (each variable has a fallback for other front ends)."""

from __future__ import annotations

import ipywidgets as widgets

#: jwt.io's three colours: header red, payload purple, signature blue.
JWT_COLOURS = {
    "header": "var(--jp-error-color1, #d32f2f)",
    "payload": "var(--jp-mirror-editor-string-2-color, #770088)",
    "signature": "var(--jp-info-color1, #0097a7)",
}

CSS = """
.fnb-widget { color: var(--jp-ui-font-color1, #212121); font-family: var(--jp-ui-font-family, sans-serif);
  font-size: var(--jp-ui-font-size1, 13px); }
.fnb-widget .jupyter-button.widget-button { width: auto; min-width: 8em; padding: 0 12px; align-self: flex-start; }
.fnb-widget .widget-checkbox { width: auto; }
.fnb-widget h3, .fnb-widget h4 { color: var(--jp-ui-font-color0, #000); margin: 8px 0 4px 0; }
.fnb-widget code, .fnb-widget pre { font-family: var(--jp-code-font-family, monospace);
  font-size: var(--jp-code-font-size, 13px); }
.fnb-widget pre { background: var(--jp-layout-color2, #eee); color: var(--jp-content-font-color1, #000);
  border: 1px solid var(--jp-border-color1, #bdbdbd); padding: 6px 8px; margin: 4px 0;
  white-space: pre-wrap; word-break: break-all; }
.fnb-widget table.fnb-table { border-collapse: collapse; margin: 4px 0; width: 100%; }
.fnb-widget table.fnb-table th, .fnb-widget table.fnb-table td {
  border: 1px solid var(--jp-border-color1, #bdbdbd); padding: 3px 6px; text-align: left; vertical-align: top;
  color: var(--jp-ui-font-color1, #212121); background: var(--jp-layout-color1, #fff); }
.fnb-widget table.fnb-table th { background: var(--jp-layout-color2, #eee); }
/* A table fits the column it is in: a long value (a token, a jti, a URL) breaks anywhere
   rather than widening its column past the notebook's edge, and the columns that explain
   keep their share of the width (ipywidgets' HTML widget would otherwise grow to the table's
   widest line and set each line 28 px high). */
.fnb-widget .widget-html, .fnb-widget .widget-html-content { min-width: 0; max-width: 100%; }
.fnb-widget table.fnb-table { line-height: 1.4; }
.fnb-widget table.fnb-table td { overflow-wrap: anywhere; }
.fnb-widget table.fnb-table th.fnb-explain { width: 45%; }
.fnb-widget table.fnb-table th.fnb-value { width: 38%; }
.fnb-widget table.fnb-table th.fnb-narrow, .fnb-widget table.fnb-table td.fnb-narrow { width: 1%; white-space: nowrap; }
.fnb-widget .fnb-muted { color: var(--jp-ui-font-color2, #616161); }
.fnb-widget .fnb-pass { color: var(--jp-success-color1, #388e3c); font-weight: bold; }
/* The light theme's success green is too pale for small text (WCAG AA asks 4.5:1). */
body[data-jp-theme-light='true'] .fnb-widget .fnb-pass { color: #2e7d32; }
.fnb-widget .fnb-fail { color: var(--jp-error-color1, #d32f2f); font-weight: bold; }
.fnb-widget .fnb-na { color: var(--jp-ui-font-color2, #616161); }
.fnb-widget .fnb-warn { color: var(--jp-warn-color1, #f57c00); }
/* A clock face in the text's colour, from borders alone (an emoji needs an emoji font). */
.fnb-clock { display: inline-block; position: relative; box-sizing: border-box; width: 0.9em; height: 0.9em;
  margin-right: 0.35em; vertical-align: -0.1em; border: 2px solid currentColor; border-radius: 50%; }
.fnb-clock::before, .fnb-clock::after { content: ""; position: absolute; left: calc(50% - 1px); bottom: calc(50% - 1px);
  border-left: 2px solid currentColor; }
.fnb-clock::before { height: 35%; }
.fnb-clock::after { height: 0; width: 28%; border-left: 0; border-bottom: 2px solid currentColor; }
.fnb-widget a { color: var(--jp-content-link-color, #1976d2); }
.fnb-error-box { border-left: 4px solid var(--jp-error-color1, #d32f2f); background: var(--jp-layout-color1, #fff);
  color: var(--jp-ui-font-color1, #212121); padding: 4px 10px; margin: 4px 0; }
.fnb-error-box .fnb-error-title { color: var(--jp-error-color1, #d32f2f); font-weight: bold; }
.fnb-note { border-left: 4px solid var(--jp-warn-color1, #f57c00); padding: 2px 10px; margin: 4px 0; }
.fnb-ok-box { border-left: 4px solid var(--jp-success-color1, #388e3c); padding: 2px 10px; margin: 4px 0; }
.fnb-jwt-header { color: JWT_HEADER; }
.fnb-jwt-payload { color: JWT_PAYLOAD; }
.fnb-jwt-signature { color: JWT_SIGNATURE; }
.fnb-jwt-encoded { font-family: var(--jp-code-font-family, monospace); word-break: break-all; }
.fnb-copy { background: var(--jp-layout-color2, #eee); color: var(--jp-ui-font-color1, #212121);
  border: 1px solid var(--jp-border-color1, #bdbdbd); border-radius: 2px; cursor: pointer; padding: 1px 8px; }
.fnb-progress ol { list-style: none; display: flex; flex-wrap: wrap; gap: 4px; padding: 0; margin: 4px 0; }
.fnb-progress li { border: 1px solid var(--jp-border-color1, #bdbdbd); border-radius: 12px; padding: 2px 10px;
  color: var(--jp-ui-font-color2, #616161); background: var(--jp-layout-color1, #fff); }
.fnb-progress li.fnb-done { color: var(--jp-success-color1, #388e3c); border-color: var(--jp-success-color1, #388e3c); }
.fnb-progress li.fnb-current { color: var(--jp-ui-font-color0, #000); border-color: var(--jp-brand-color1, #1976d2);
  border-width: 2px; font-weight: bold; }
.fnb-progress li.fnb-failed { color: var(--jp-error-color1, #d32f2f); border-color: var(--jp-error-color1, #d32f2f); }
/* The playground's step bar stays in view while the steps below it scroll. */
.fnb-playground > .fnb-progress { position: sticky; top: 0; z-index: 2; background: var(--jp-layout-color1, #fff);
  border-bottom: 1px solid var(--jp-border-color2, #e0e0e0); }
.fnb-widget .widget-toggle-button { width: auto; min-width: 16em; }
.fnb-network-log details { border-bottom: 1px solid var(--jp-border-color2, #e0e0e0); }
.fnb-network-log summary { display: grid; grid-template-columns: 2.5em 12em 5em minmax(0, 1fr) 5em 5em; column-gap: 12px;
  cursor: pointer; padding: 2px 0; list-style-position: inside; }
.fnb-network-log .fnb-log-head { display: grid; grid-template-columns: 2.5em 12em 5em minmax(0, 1fr) 5em 5em;
  column-gap: 12px; font-weight: bold; border-bottom: 1px solid var(--jp-border-color1, #bdbdbd); }
/* A widget whose kernel is gone (restarted, or a saved notebook opened): say what to do instead
   of ipywidgets' broken-link icons, and dim what no longer answers. */
.fnb-widget.jupyter-widgets-disconnected::before { content: "This widget is not connected to a running kernel (the "
  "kernel restarted, or this cell has not run in this session): run the cell (Shift+Enter) to use it.";
  display: block; font: inherit; color: var(--jp-warn-color1, #f57c00); font-weight: bold; padding: 4px 0; }
.fnb-widget .jupyter-widgets-disconnected::before { content: none; display: none; }
.fnb-widget.jupyter-widgets-disconnected > * { opacity: 0.55; pointer-events: none; }
.fnb-network-log .fnb-url { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
""".replace("JWT_HEADER", JWT_COLOURS["header"]).replace(
    "JWT_PAYLOAD", JWT_COLOURS["payload"]).replace("JWT_SIGNATURE", JWT_COLOURS["signature"])


def style_tag() -> widgets.HTML:
    """An (invisible) HTML widget carrying the style sheet; every top-level widget holds one."""
    return widgets.HTML(f"<style>{CSS}</style>", layout=widgets.Layout(display="none"))
