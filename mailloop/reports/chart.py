"""The Smiles chart, three ways: a PNG (matplotlib, Agg), a table bar chart that
needs no image (for mail clients that block them), and plain text."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import escape

BAR_COLOUR = "#f59e0b"
TRACK_COLOUR = "#fdf3e1"
TEXT_COLOUR = "#1f2933"


@dataclass(frozen=True)
class Bar:
    label: str
    value: int


def png(bars: Sequence[Bar], title: str, *, width_px: int = 1120, dpi: int = 160) -> bytes:
    """A horizontal bar chart, largest at the top, drawn at twice its display size."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = max(1, len(bars))
    height_in = 0.9 + 0.42 * rows
    fig = Figure(figsize=(width_px / dpi, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    labels = [b.label for b in reversed(bars)]
    values = [b.value for b in reversed(bars)]
    positions = list(range(len(bars)))
    ax.barh(positions, values, color=BAR_COLOUR, height=0.62)
    ax.set_yticks(positions, labels=labels, fontsize=10, color=TEXT_COLOUR)
    top = max(values, default=0)
    ax.set_xlim(0, max(1, top) * 1.15)
    for y, value in zip(positions, values, strict=True):
        ax.text(value + max(1, top) * 0.015, y, str(value), va="center", fontsize=10,
                color=TEXT_COLOUR, fontweight="bold")
    ax.set_title(title, loc="left", fontsize=12, color=TEXT_COLOUR, fontweight="bold")
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.spines["left"].set_color("#cbd2d9")
    ax.tick_params(axis="x", bottom=False, labelbottom=False)
    ax.tick_params(axis="y", length=0)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=dpi, metadata={"Software": None},
                facecolor="white")
    return out.getvalue()


def html_table(bars: Sequence[Bar], caption: str) -> str:
    """The same numbers as nested tables: one row and one bar per label."""
    top = max((b.value for b in bars), default=0) or 1
    rows = []
    for bar in bars:
        pct = max(1, round(100 * bar.value / top))
        rows.append(
            f'<tr class="bar-row" data-label="{escape(bar.label)}" data-value="{bar.value}">'
            f'<td class="bar-label" width="34%" style="padding:3px 8px 3px 0;font-size:13px;'
            f'color:{TEXT_COLOUR};white-space:nowrap;">{escape(bar.label)}</td>'
            f'<td width="56%" style="padding:3px 0;">'
            f'<table role="presentation" width="{pct}%" cellpadding="0" cellspacing="0" '
            f'border="0"><tr><td class="bar" bgcolor="{BAR_COLOUR}" height="14" '
            f'style="background-color:{BAR_COLOUR};height:14px;font-size:1px;'
            f'line-height:1px;">&nbsp;</td></tr></table></td>'
            f'<td class="bar-value" width="10%" align="right" style="padding:3px 0 3px 8px;'
            f'font-size:13px;font-weight:bold;color:{TEXT_COLOUR};">{bar.value}</td></tr>')
    return (f'<table role="presentation" class="bar-chart" width="100%" cellpadding="0" '
            f'cellspacing="0" border="0" summary="{escape(caption)}" '
            f'style="margin:8px 0 16px;border-collapse:collapse;">'
            + "".join(rows) + "</table>")


def text_chart(bars: Sequence[Bar], *, width: int = 30) -> str:
    top = max((b.value for b in bars), default=0) or 1
    label_width = max((len(b.label) for b in bars), default=0)
    return "\n".join(f"{b.label.ljust(label_width)}  {'█' * round(width * b.value / top)}"
                     f" {b.value}" for b in bars)
