"""The one writer of ballast's self-contained HTML pages: every figure inlined as a base64 PNG,
one style sheet, nothing fetched from the network. Pure string building (no heavy imports), so
any report can use it: backtest/simulate, audit and the demo.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "png_bytes",
    "STYLE",
    "escape",
    "png_base64",
    "figure",
    "figures",
    "table",
    "frame",
    "bullets",
    "document",
    "write",
]

STYLE = """body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child, td.text { text-align: left; }
.ok { color: #080; font-weight: bold; } .bad { color: #b00; font-weight: bold; }
small { color: #777; }
img { max-width: 100%; }"""


def escape(value: Any) -> str:
    """``value`` as HTML text (quotes escaped too)."""
    return html.escape(str(value))


def png_bytes(fig: Any, dpi: int = 110) -> bytes:
    """A matplotlib figure as PNG bytes (tight bounding box)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def png_base64(source: Path | str | bytes | Any) -> str:
    """A PNG as base64: from a file path, raw bytes, or a matplotlib figure (``png_bytes``)."""
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, Path | str):
        data = Path(source).read_bytes()
    else:
        data = png_bytes(source)
    return base64.b64encode(data).decode("ascii")


def figure(title: str, source: Path | str | bytes | Any) -> str:
    """A titled, inlined PNG."""
    data = png_base64(source)
    return f'<h2>{escape(title)}</h2><img alt="{escape(title)}" src="data:image/png;base64,{data}">'


def figures(items: Iterable[tuple[str, Path | str | bytes | Any]]) -> str:
    """``figure`` for each (title, source)."""
    return "".join(figure(title, source) for title, source in items)


def table(head: Sequence[str], rows: Iterable[Sequence[Any]], *, raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (cells that already are HTML)."""
    cell = (lambda c: str(c)) if raw else escape
    h = "".join(f"<th>{escape(x)}</th>" for x in head)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{h}</tr>{body}</table>"


def frame(df: Any, max_rows: int = 500, *, rest: str = "") -> str:
    """A pandas DataFrame as an escaped HTML table of at most ``max_rows`` rows, then how many more
    (``rest`` says where they are); ``<p>none</p>`` for no rows."""
    if df is None or not len(df):
        return "<p>none</p>"
    more = f"<p><small>{len(df) - max_rows:,} more rows{rest}.</small></p>" if len(df) > max_rows else ""
    return df.head(max_rows).to_html(index=False, escape=True, border=0) + more


def bullets(items: Iterable[str]) -> str:
    """An escaped bullet list (empty string for no items)."""
    lis = "".join(f"<li>{escape(n)}</li>" for n in items)
    return f"<ul>{lis}</ul>" if lis else ""


def document(title: str, body: str, *, heading: str | None = None) -> str:
    """The page shell: ``<title>`` ``title``, ``<h1>`` ``heading`` (default: the title), then ``body``."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
{STYLE}
</style></head><body>
<h1>{escape(heading if heading is not None else title)}</h1>
{body}
</body></html>
"""


def write(path: Path, title: str, body: str, *, heading: str | None = None) -> Path:
    """Write ``document(title, body)`` to ``path`` (UTF-8); returns ``path``."""
    path = Path(path)
    path.write_text(document(title, body, heading=heading), encoding="utf-8")
    return path
