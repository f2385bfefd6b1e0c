"""Charts of a report, rendered offline with matplotlib's Agg backend (PNG and SVG).

One function per chart; each takes the metric's rows and draws on a fresh figure.
A chart whose metric has no rows yet says so on the figure rather than being
skipped, so a report always has the same files. SVGs are reproducible: a fixed
hash salt and no date metadata.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # offline: never a window, never a display
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

Rows = list[dict[str, Any]]
FORMATS = ("png", "svg")
_EPOCH = date(1970, 1, 1)
_BLUE, _ORANGE, _GREEN, _GREY = "#2b6cb0", "#dd6b20", "#38a169", "#a0aec0"


def _empty(ax: Any, why: str = "no events yet") -> None:
    ax.text(0.5, 0.5, why, ha="center", va="center", color=_GREY, fontsize=14,
            transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def funnel(fig: Figure, rows: Rows) -> None:
    from .metrics import Funnel

    ax = fig.add_subplot()
    row = rows[0] if rows else {}
    steps = list(Funnel.STEPS)
    counts = [int(row.get(s, 0) or 0) for s in steps]
    if not any(counts):
        _empty(ax)
        return
    bars = ax.barh(steps[::-1], counts[::-1], color=[_GREY if c == 0 else _BLUE
                                                      for c in counts[::-1]])
    for bar, step, count in zip(bars, steps[::-1], counts[::-1], strict=True):
        rate = row.get(f"{step}_rate")
        label = f"{count:,}" + (f"  ({rate:.0%})" if rate is not None else "")
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, " " + label,
                va="center", fontsize=9)
    ax.set_xlim(left=0)
    ax.set_xlabel("events / orders")
    ax.set_title("Conversion funnel (rate = share of the previous step)")
    ax.margins(x=0.25)


def sell_through(fig: Figure, rows: Rows) -> None:
    ax = fig.add_subplot()
    if not rows:
        _empty(ax)
        return
    per_sale: dict[str, list[tuple[float, int]]] = defaultdict(list)
    quantity: dict[str, int] = {}
    for r in rows:
        per_sale[r["sale_id"]].append((float(r["second"]), int(r["cumulative"])))
        quantity[r["sale_id"]] = int(r["quantity"])
    for sale, points in per_sale.items():
        xs, ys = zip(*sorted([(0.0, 0), *points]), strict=True)
        ax.step(xs, ys, where="post", label=f"{sale} ({quantity[sale]:,} units)")
        ax.axhline(quantity[sale], color=_GREY, linestyle=":", linewidth=1)
    last = max(float(r["second"]) for r in rows)
    if last > 60:
        # a sale that sells out in seconds and sees cancelled units resold minutes later:
        # linear up to 1 s, logarithmic after, so both show
        ax.set_xscale("symlog", linthresh=1)
    ax.set_xlim(left=0)
    ax.set_xlabel("seconds since the sale opened")
    ax.set_ylabel("units claimed (cumulative)")
    ax.set_title("Flash-sale sell-through")
    ax.legend(fontsize=8)


def activation(fig: Figure, rows: Rows) -> None:
    ax = fig.add_subplot()
    if not rows:
        _empty(ax)
        return
    keys = [str(r["key"]) for r in rows]
    rates = [float(r["activation_rate"] or 0) for r in rows]
    bars = ax.bar(keys, rates, color=_GREEN)
    for bar, r in zip(bars, rows, strict=True):
        hours = r["median_hours_to_activation"]
        note = f"{r['activated']:,}/{r['sold']:,}" + (f"\nmedian {hours:g} h" if hours is not None
                                                      else "")
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), note, ha="center",
                va="bottom", fontsize=8)
    ax.set_ylim(0, 1.2)
    ax.set_ylabel("activated / sold")
    ax.set_title("Activation of sold phones (hours counted from delivery)")


def active_devices(fig: Figure, rows: Rows) -> None:
    ax = fig.add_subplot()
    if not rows:
        _empty(ax)
        return
    days = [r["day"] for r in rows]
    for key, color in (("mau", _GREY), ("wau", _ORANGE), ("dau", _BLUE)):
        ax.plot(days, [r[key] for r in rows], label=key.upper(), color=color, marker=".")
    ax.set_ylabel("devices")
    ax.set_title("Daily, weekly and monthly active devices")
    ax.legend()
    fig.autofmt_xdate()


def retention(fig: Figure, rows: Rows) -> None:
    ax = fig.add_subplot()
    if not rows:
        _empty(ax)
        return
    cohorts = sorted({r["cohort"] for r in rows})
    periods = max(int(r["period"]) for r in rows) + 1
    grid = [[float("nan")] * periods for _ in cohorts]
    for r in rows:
        grid[cohorts.index(r["cohort"])][int(r["period"])] = float(r["rate"])
    image = ax.imshow(grid, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i, line in enumerate(grid):
        for k, value in enumerate(line):
            if value == value:  # not NaN
                ax.text(k, i, f"{value:.0%}", ha="center", va="center", fontsize=8,
                        color="white" if value > 0.6 else "black")
    sizes = {r["cohort"]: r["cohort_size"] for r in rows}
    ax.set_yticks(range(len(cohorts)), [f"{c:%Y-%m-%d} ({sizes[c]:,})" for c in cohorts])
    ax.set_xticks(range(periods), [f"W{k}" for k in range(periods)])
    ax.set_xlabel("weeks after the activation week")
    ax.set_title("Retention by activation week")
    fig.colorbar(image, ax=ax, fraction=0.04)


def apps(fig: Figure, rows: Rows) -> None:
    ax = fig.add_subplot()
    if not rows:
        _empty(ax)
        return
    names = [str(r["package"]) for r in rows][::-1]
    ax.barh(names, [r["installs"] for r in rows][::-1], color=_BLUE, label="installs")
    ax.barh(names, [-r["uninstalls"] for r in rows][::-1], color=_ORANGE, label="uninstalls")
    ax.set_title("Top apps by installs")
    ax.legend(fontsize=8)


def ota_adoption(fig: Figure, rows: Rows) -> None:
    ax = fig.add_subplot()
    if not rows:
        _empty(ax)
        return
    days = sorted({r["day"] for r in rows})
    versions = sorted({str(r["os_version"]) for r in rows})
    share = {(r["day"], str(r["os_version"])): float(r["share"]) for r in rows}
    ax.stackplot(days, [[share.get((d, v), 0.0) for d in days] for v in versions],
                 labels=versions)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of reporting devices")
    ax.set_title("OS version adoption")
    ax.legend(loc="lower left", fontsize=8)
    fig.autofmt_xdate()


def escrow(fig: Figure, rows: Rows) -> None:
    ax = fig.add_subplot()
    if not rows:
        _empty(ax)
        return
    # matplotlib day numbers: three bars of a quarter day side by side per day
    # (matplotlib's default epoch is 1970-01-01)
    days = [float((r["key"] - _EPOCH).days) for r in rows]
    width = 0.25
    for i, (key, color) in enumerate((("gmv", _BLUE), ("released", _GREEN),
                                      ("refunded", _ORANGE))):
        ax.bar([d + (i - 1) * width for d in days], [r[key] / 100 for r in rows],
               width=width, label=key, color=color)
    ax.step(days, [r["held_cumulative"] / 100 for r in rows], where="post",
            label="held (balance at day's end)", color=_GREY, linestyle="--")
    ax.xaxis_date()
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_ylabel("yuan")
    ax.set_title("Escrow per day: captured, released, refunded; balance held")
    ax.legend(fontsize=8)
    fig.autofmt_xdate()


def delivery(fig: Figure, rows: Rows) -> None:
    ax = fig.add_subplot()
    if not rows:
        _empty(ax)
        return
    keys = [str(r["key"]) for r in rows]
    ax.bar(keys, [float(r["share"] or 0) for r in rows], color=_BLUE, label="share of shipped")
    ax.plot(keys, [float(r["on_time_rate"] or 0) for r in rows], "o", color=_ORANGE,
            label="on-time rate")
    ax.set_ylim(0, 1.1)
    ax.set_title("Delivery: carrier share and on-time rate")
    ax.legend(fontsize=8)


def sales(fig: Figure, rows: Rows) -> None:
    ax = fig.add_subplot()
    if not rows:
        _empty(ax)
        return
    ax.bar([str(r["key"]) for r in rows], [r["units"] for r in rows], color=_BLUE)
    ax.set_ylabel("units (paid orders)")
    ax.set_title("Sales by channel")


CHARTS: dict[str, Callable[[Figure, Rows], None]] = {
    "funnel": funnel, "sell_through": sell_through, "activation": activation,
    "active_devices": active_devices, "retention": retention, "apps": apps,
    "ota_adoption": ota_adoption, "escrow": escrow, "delivery": delivery, "sales": sales}


def render(name: str, rows: Rows, folder: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Draws chart ``name`` from ``rows`` into ``folder/<name>.<format>``; returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with plt.rc_context({"svg.hashsalt": "yunshang", "font.size": 10}):
        fig = plt.figure(figsize=(8, 4.5), layout="constrained")
        try:
            CHARTS[name](fig, rows)
            for fmt in formats:
                path = folder / f"{name}.{fmt}"
                tmp = path.with_suffix(f".{fmt}.tmp")
                meta = {"Date": None} if fmt == "svg" else {}
                fig.savefig(tmp, format=fmt, dpi=110, metadata=meta)
                tmp.replace(path)
                written.append(path)
        finally:
            plt.close(fig)
    return written
