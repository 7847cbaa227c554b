"""The HTML and Markdown pieces every headstart report is written with: one self-contained page (inline style,
images as data: URIs, a Content-Security-Policy with no script and no remote resource), tables, escaping.

The transfer, sweep, audit and evaluation reports all render through these, so a page looks and is protected
the same way whichever command wrote it.  Plain string building with ``html.escape`` on every value: the
pages are small and fixed in shape, and a templating engine would add a dependency for no gain here.
"""
from __future__ import annotations

import base64
import html
import math
import re
from typing import Any

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1a1a1a; margin: 0;
       background: #fafafa; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 26px; margin: 8px 0 4px; } h2 { font-size: 19px; margin-top: 36px;
     border-bottom: 1px solid #e3e3e3; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 12px 0; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 12px; border-bottom: 1px solid #e6e6e6; text-align: right; }
th { background: #f3f5f8; } .text { text-align: left; }
pre { background: #f5f5f5; padding: 10px 12px; overflow-x: auto; white-space: pre-wrap;
      word-break: break-all; font-size: 13px; }
img { max-width: 100%; height: auto; display: block; margin: 12px 0; }
.meta, .note { color: #555; } .note { font-size: 13px; } .headline { font-size: 17px; }
.labels { max-height: 6em; overflow-y: auto; }
"""


def html_page(title: str, body: str, *, extra_style: str = "", signature: str = "headstart") -> str:
    """A self-contained page around ``body`` (already escaped HTML): every report's one wrapper, with the
    Content-Security-Policy that keeps it offline (no script, no remote resource)."""
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{escape(title)}</title><style>{_STYLE}{extra_style}</style></head>\n"
            f"<body><main>\n{body}\n<p class='note'>Written by {escape(signature)}.</p></main></body></html>\n")


def html_table(header: list[str], rows: list[list[str]], text_columns: tuple[int, ...] = (0,)) -> str:
    """A table with numbers right-aligned and the ``text_columns`` left-aligned."""
    def cell(tag: str, i: int, value: str) -> str:
        return f"<{tag}{' class=text' if i in text_columns else ''}>{escape(value)}</{tag}>"
    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def img(png: bytes, alt: str) -> str:
    return f"<img alt='{escape(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode('ascii')}'>"


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(md(h) for h in header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(md(c) for c in row) + " |" for row in rows)]


def md(text: Any) -> str:
    """Markdown-safe inline text: HTML escaped (renderers pass raw HTML through), markup characters
    backslash-escaped so a label like ``*x*`` or ``a|b`` shows as typed, newlines folded."""
    text = html.escape(" ".join(str(text).split()), quote=False)
    return re.sub(r"([\\`*_\[\]|])", r"\\\1", text)


def fence(text: str, language: str = "") -> str:
    fence = "`" * max(3, _longest_backtick_run(text) + 1)  # a fence the content cannot close
    return f"{fence}{language}\n{text}\n{fence}"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def json_safe(value: Any) -> Any:
    """Plain JSON: NumPy scalars and arrays become numbers and lists; NaN and infinity become null."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _longest_backtick_run(text: str) -> int:
    longest = current = 0
    for char in text:
        current = current + 1 if char == "`" else 0
        longest = max(longest, current)
    return longest
