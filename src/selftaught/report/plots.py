"""The report's figures, drawn with matplotlib (Agg, no display) and returned as PNG data URIs.

Imported only when a report is written: matplotlib costs about a second to import.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from typing import Any

from selftaught.report.data import IterationRow

VAL, TEST, CAND = "#1f77b4", "#d62728", "#7f7f7f"


def _pyplot() -> Any | None:
    """pyplot (Agg), or None without the ``report`` extra: the report then has no figures but is still
    whole, so a core install's live report reaches its final page instead of stopping at 'running'."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _errors(cis: list[tuple[float, float, float]]) -> list[list[float]]:
    return [[max(0.0, m - lo) for m, lo, _ in cis], [max(0.0, hi - m) for m, _, hi in cis]]


def meta_utility_curve(rows: list[IterationRow], seed_solution: dict[str, tuple[float, float]]) -> str:
    """Val and test meta-utility of the improver in force per iteration, 95% t-intervals over its runs;
    rejected candidates as grey crosses; the seed solution's u(s) as dotted lines."""
    plt = _pyplot()
    if plt is None:
        return ""
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    ts = [r.record.iteration for r in rows]
    for label, colour, cis, shift in (("val (seen by improvers)", VAL, [r.val_ci for r in rows], -0.06),
                                      ("test (held out)", TEST, [r.test_ci for r in rows], 0.06)):
        ax.errorbar([t + shift for t in ts], [c[0] for c in cis], yerr=_errors(cis), color=colour, marker="o",
                    capsize=4, label=label)
    cand = [(r.record.iteration, r.record.candidate_val) for r in rows
            if r.record.candidate_val is not None and not r.record.adopted]
    if cand:
        ax.scatter([c[0] for c in cand], [c[1] for c in cand], marker="x", color=CAND, zorder=3,
                   label="rejected candidate (val)")
    for task, (val, test) in seed_solution.items():
        ax.axhline(test, color=TEST, linestyle=":", linewidth=1)
        ax.axhline(val, color=VAL, linestyle=":", linewidth=1, label=f"u(s) seed solution ({task})")
    ax.set_xlabel("iteration t")
    ax.set_ylabel("meta-utility")
    ax.set_ylim(-0.02, 1.05)
    ax.set_xticks(ts or [0])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title("Meta-utility per iteration (mean and 95% CI over improver runs)", fontsize=10)
    return _png(fig)


def usage_bars(rows: list[IterationRow]) -> str:
    """Model completions, tokens and seconds per iteration (recorded, replays included once)."""
    plt = _pyplot()
    if plt is None:
        return ""
    fig, axes = plt.subplots(1, 3, figsize=(9, 2.8))
    ts = [str(r.record.iteration) for r in rows]
    axes[0].bar(ts, [r.completions for r in rows], color=VAL)
    axes[0].set_title("model completions", fontsize=9)
    axes[1].bar(ts, [r.prompt_tokens for r in rows], color="#9ecae1", label="prompt")
    axes[1].bar(ts, [r.completion_tokens for r in rows], bottom=[r.prompt_tokens for r in rows], color=VAL,
                label="completion")
    axes[1].set_title("tokens", fontsize=9)
    axes[1].legend(fontsize=7)
    axes[2].bar(ts, [r.record.seconds for r in rows], color="#bdbdbd", label="iteration wall")
    axes[2].bar(ts, [r.model_seconds for r in rows], color=VAL, width=0.5, label="model")
    axes[2].set_title("seconds", fontsize=9)
    axes[2].legend(fontsize=7)
    for ax in axes:
        ax.set_xlabel("iteration t", fontsize=8)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    return _png(fig)


def label_counts(counts: Counter[str], title: str) -> str:
    """Horizontal bars: improvers per strategy label."""
    plt = _pyplot()
    if plt is None:
        return ""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    fig, ax = plt.subplots(figsize=(6, 0.4 * max(2, len(items)) + 0.8))
    ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color=VAL)
    ax.set_xlabel("improver versions")
    ax.set_title(title, fontsize=10)
    ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return _png(fig)


def rate_bars(rates: dict[str, dict[str, float]], labels: dict[str, str]) -> str:
    """Sandbox-flag rates with their 95% Wilson intervals."""
    plt = _pyplot()
    if plt is None:
        return ""
    keys = [k for k in labels if k in rates]
    fig, ax = plt.subplots(figsize=(6.5, 0.5 * len(keys) + 1))
    vals = [rates[k]["count"] / max(1, rates[k]["n"]) for k in keys]
    lows = [max(0.0, v - rates[k]["low"]) for v, k in zip(vals, keys)]
    highs = [max(0.0, rates[k]["high"] - v) for v, k in zip(vals, keys)]
    ax.barh([labels[k] for k in keys][::-1], vals[::-1], xerr=[lows[::-1], highs[::-1]], color=TEST, capsize=4)
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of samples (95% Wilson CI)")
    fig.tight_layout()
    return _png(fig)
