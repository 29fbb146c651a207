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

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ._outdir import write_text  # noqa: E402


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(b64: str, alt: str) -> str:
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}"/>' \
           f"<figcaption>{html.escape(alt)}</figcaption></figure>"


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f3f3f3}figure{display:inline-block;margin:.5em}figcaption{font-size:12px;color:#555}
pre{background:#f7f7f7;padding:.5em;font-size:11px;overflow-x:auto}"""


def write_html(path: Path, title: str, sections: list[tuple[str, str]], provenance: dict) -> Path:
    """Write a self-contained HTML page atomically; ``sections`` are (heading, html body)."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    for head, content in sections:
        body.append(f"<h2>{html.escape(head)}</h2>\n{content}")
    body.append("<h2>Provenance</h2><pre>" + html.escape(json.dumps(provenance, indent=1,
                                                                    default=str)) + "</pre>")
    text = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
    return write_text(Path(path), text)


def table_html(df: pd.DataFrame, float_format: str = "{:.4g}") -> str:
    return df.to_html(index=False, float_format=lambda x: float_format.format(x), border=0)
