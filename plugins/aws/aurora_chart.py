"""The lab's picture as PNGs: the business rate (orange) against Aurora capacity (blue), and utilisation against users.

Matplotlib only (no Locust), so the charts can be drawn from plain series:
times are epoch seconds, drawn as seconds since ``t0`` (the run report's
origin, so these line up with its other plots). Scaling events are dashed
red lines, outage windows grey spans, load steps and the end of the load
thin dotted lines, on both charts.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ORDERS_COLOR = "tab:orange"  # the lab's Orders line
ACU_COLOR = "tab:blue"  # the lab's ServerlessDatabaseCapacity line


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _markers(ax, t0, marks: dict) -> None:
    for i, t in enumerate(marks.get("scaling_events", ())):
        ax.axvline(t - t0, color="crimson", linestyle="--", linewidth=1.2, label="scaling event" if i == 0 else None)
    for i, (start, end, _label) in enumerate(marks.get("outages", ())):
        ax.axvspan(start - t0, end - t0, color="grey", alpha=0.25, label="outage" if i == 0 else None)
    for i, t in enumerate(marks.get("steps", ())):
        ax.axvline(t - t0, color="tab:green", linestyle=":", linewidth=1, label="load step" if i == 0 else None)
    if marks.get("load_end") is not None:
        ax.axvline(marks["load_end"] - t0, color="black", linestyle=":", linewidth=1, label="load end")


def _twin_legend(ax, other) -> None:
    lines, labels = ax.get_legend_handles_labels()
    more, more_labels = other.get_legend_handles_labels()
    ax.legend(lines + more, labels + more_labels, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=4,
              fontsize="small", frameon=False)


def business_vs_acu(t0: float, rate: list[tuple[float, float]], rate_label: str, acu: list[tuple[float, float]],
                    title: str, marks: dict) -> bytes:
    """The seed's chart: rate per second on the left axis, ACU on the right, one time axis."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.set_title(title)
    ax.set_xlabel("seconds since start")
    ax.set_ylabel(rate_label, color=ORDERS_COLOR)
    ax.grid(True, alpha=0.3)
    ax.plot([t - t0 for t, _ in rate], [v for _, v in rate], color=ORDERS_COLOR, linewidth=1.2, label=rate_label)
    ax.set_ylim(bottom=0)
    right = ax.twinx()
    right.set_ylabel("ACU", color=ACU_COLOR)
    right.plot([t - t0 for t, _ in acu], [v for _, v in acu], color=ACU_COLOR, linewidth=1.8, marker=".",
               label="ServerlessDatabaseCapacity (ACU)")
    top = max([v for _, v in acu] or [1.0])
    right.set_ylim(0, top * 1.15 if top > 0 else 1)
    _markers(ax, t0, marks)
    _twin_legend(ax, right)
    return _png(fig)


def utilisation_vs_users(t0: float, acu_util: list[tuple[float, float]], cpu: list[tuple[float, float]],
                         users: list[tuple[float, int]], marks: dict) -> bytes:
    """ACU utilisation and CPU (%) on the left axis, users on the right."""
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.set_title("ACU utilisation and CPU against users")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("%")
    ax.grid(True, alpha=0.3)
    ax.plot([t - t0 for t, _ in acu_util], [v for _, v in acu_util], color=ACU_COLOR, marker=".",
            label="ACUUtilization %")
    ax.plot([t - t0 for t, _ in cpu], [v for _, v in cpu], color="tab:purple", marker=".", label="CPUUtilization %")
    ax.set_ylim(0, 105)
    right = ax.twinx()
    right.set_ylabel("users", color="tab:green")
    right.step([t - t0 for t, _ in users], [n for _, n in users], where="post", color="tab:green", alpha=0.7,
               label="users")
    right.set_ylim(bottom=0)
    _markers(ax, t0, marks)
    _twin_legend(ax, right)
    return _png(fig)
