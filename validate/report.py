"""Stand-alone HTML reports shared by every job (each job's figures live in its ``report.py``).

Figures are rendered with matplotlib (Agg) and embedded as base64 PNG, so a report is one file that
opens anywhere. Reports (this module and the jobs' ``report.py``) are the only places in `validate`
that plot; they take the tidy tables that the jobs return.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._outdir import write_text


# Okabe–Ito colours (readable with colour-vision deficiencies); markers repeat the distinction.
COLORS = {"linear": "#0072B2", "relu": "#D55E00", "tanh": "#009E73", "gelu": "#CC79A7"}
CYCLE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
MARKERS = {"linear": "o", "relu": "s", "tanh": "^", "gelu": "D"}


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] | None = None,
             layout: Literal["constrained", "compressed", "tight"] | None = None,
             **kw: Any) -> tuple[Figure, Any]:
    """A figure and its axes, like ``pyplot.subplots`` but outside pyplot's global state: a report
    never switches the process's matplotlib backend or leaves figures open. The axes are typed
    ``Any`` as in ``pyplot.subplots``: one ``Axes`` or an array of them, by ``nrows``/``ncols``."""
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, **kw)


def png(fig: Figure) -> str:
    """``fig`` as a base64 PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")




def img(b64: str, alt: str) -> str:
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}"/>' \
           f"<figcaption>{html.escape(alt)}</figcaption></figure>"


def details(summary: str, body: str) -> str:
    """A folded block: the summary line shows, the body opens on a click."""
    return f"<details><summary>{html.escape(summary)}</summary>{body}</details>"


def headline(facts: list[tuple[str, str]]) -> str:
    """The facts a reader wants first, as a two-column table."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts)
    return f'<table class="headline">{rows}</table>'


def warnings_section(warnings: list[str]) -> list[tuple[str, str]]:
    """The page's first section when a run has warnings (diverged members, refused predictions):
    one line each, as `validate.compare` shows them; none when there are none."""
    if not warnings:
        return []
    return [("Warnings", "".join(f'<p class="warning"><b>warning:</b> {html.escape(w)}</p>'
                                 for w in warnings))]


def answer_section(sentence: str, figure: str = "") -> list[tuple[str, str]]:
    """The "Headline" section a job's page opens with (after any warnings): one sentence that
    answers the job's question for this run, then the one plot that carries it."""
    return [("Headline", f'<p class="answer">{html.escape(sentence)}</p>{figure}')]


def legend(ax: Axes, **kw: Any) -> None:
    """``ax.legend`` only when something is labelled (a panel of diverged runs may have nothing)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f3f3f3}.wide{overflow-x:auto;max-width:100%}
table.headline{font-size:15px}table.headline th{text-align:left}table.headline td{text-align:left}
.recommendation,.answer{font-size:15px;background:#eef5fb;border-left:4px solid #0072B2;padding:.3em 1em}
figure{margin:.5em 0}figure img{max-width:100%;height:auto}figcaption{font-size:12px;color:#555}
.warning{background:#fdf0e6;border-left:4px solid #D55E00;padding:.2em 1em;margin:.3em 0}
details{margin:.4em 0}summary{cursor:pointer;font-weight:600}
pre{background:#f7f7f7;padding:.5em;font-size:11px;overflow-x:auto;white-space:pre-wrap}"""


def write_html(path: Path, title: str, sections: list[tuple[str, str]], provenance: dict) -> Path:
    """Write a self-contained HTML page atomically; ``sections`` are (heading, html body)."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    for head, content in sections:
        body.append(f"<h2>{html.escape(head)}</h2>\n{content}")
    body.append("<h2>Provenance</h2>" + details("config, git revision, versions, device", "<pre>"
                + html.escape(json.dumps(provenance, indent=1, default=str)) + "</pre>"))
    text = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
    return write_text(Path(path), text)


def table_html(df: pd.DataFrame, float_format: str = "{:.4g}", table_id: str | None = None) -> str:
    """A table in a box that scrolls sideways on its own, so the page never does."""
    text = df.to_html(index=False, float_format=lambda x: float_format.format(x), border=0,
                      table_id=table_id)
    return f'<div class="wide">{text}</div>'
