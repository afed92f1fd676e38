"""The router benchmark as one PNG: throughput per case next to Kafka's own perf tools, and
latency per case, both on log scales (they span two to three orders of magnitude).

A case with no figure (not built, or nothing delivered within the bench's wait) is drawn
as a labelled gap, never as a zero: a zero would read as a measurement.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on a server

import matplotlib.pyplot as plt


@dataclasses.dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float | None
    kind: str = "router"
    """kafka (the ceiling) or router; colours them apart."""
    missing: str = "no figure"


@dataclasses.dataclass(frozen=True, slots=True)
class Latency:
    label: str
    p50_ms: float | None
    p99_ms: float | None
    missing: str = "no figure"


COLOURS = {"kafka": "#7f7f7f", "router": "#1f77b4"}


def plot(
    throughput: Sequence[Bar],
    latency: Sequence[Latency],
    out: Path,
    *,
    title: str,
    latency_target_ms: float | None = None,
) -> None:
    """Write the two panels to `out` (PNG)."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2), layout="constrained")
    figure.suptitle(title, fontsize=10)

    positions = list(range(len(throughput)))
    values = [b.value or 0.0 for b in throughput]
    left.bar(positions, values, color=[COLOURS[b.kind] for b in throughput])
    left.set_yscale("log")
    left.set_ylim(1, max([*values, 10.0]) * 3)
    left.set_ylabel("records or documents per second (log)")
    left.set_title("Throughput: Kafka's perf tools (grey), the router (blue)", fontsize=10)
    left.set_xticks(positions, [b.label for b in throughput], fontsize=8)
    for x, bar in zip(positions, throughput, strict=True):
        text = f"{bar.value:,.0f}" if bar.value else bar.missing
        left.annotate(text, (x, bar.value or 1.2), ha="center", va="bottom", fontsize=8)

    width = 0.38
    spots = list(range(len(latency)))
    p50 = [x.p50_ms or 0.0 for x in latency]
    p99 = [x.p99_ms or 0.0 for x in latency]
    right.bar([s - width / 2 for s in spots], p50, width, label="p50", color="#2ca02c")
    right.bar([s + width / 2 for s in spots], p99, width, label="p99", color="#d62728")
    right.set_yscale("log")
    right.set_ylim(10, max([*p50, *p99, 1000.0]) * 3)
    right.set_ylabel("milliseconds, submit to unit topic (log)")
    right.set_title("Latency per case", fontsize=10)
    right.set_xticks(spots, [x.label for x in latency], fontsize=8)
    if latency_target_ms is not None:
        right.axhline(latency_target_ms, color="#444444", linestyle="--", linewidth=0.8)
        right.annotate(
            f"p99 target {latency_target_ms:g} ms", (-0.5, latency_target_ms),
            ha="left", va="bottom", fontsize=7, color="#444444",
        )  # fmt: skip
    for spot, entry in zip(spots, latency, strict=True):
        for offset, value in ((-width / 2, entry.p50_ms), (width / 2, entry.p99_ms)):
            if value:
                right.annotate(
                    f"{value:,.0f}", (spot + offset, value), ha="center", va="bottom", fontsize=7
                )
        if entry.p99_ms is None:
            right.annotate(entry.missing, (spot, 12), ha="center", va="bottom", fontsize=7)
    right.legend(fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
