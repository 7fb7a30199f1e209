"""The loss-curve PNG: train loss and validation loss against step, the best one starred.

matplotlib is imported lazily and drawn through the Agg canvas directly (no pyplot,
no global backend switch). Without matplotlib the plot is skipped with a note.
"""

from __future__ import annotations

import os
import sys


def plot_loss_curve(records: list[dict], path) -> str | None:
    """Write ``path`` (PNG) from JSONL ``records``; returns the path, or None if skipped."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print("note: matplotlib is not installed; loss curve not written "
              "(pip install 'rnnkit[apps]')", file=sys.stderr)
        return None
    train = [(r["step"], r["train_loss"]) for r in records if r.get("train_loss") is not None]
    val = [(r["step"], r["val_loss"]) for r in records if r.get("val_loss") is not None]
    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if train:
        ax.plot(*zip(*train), label="train", linewidth=1)
    if val:
        ax.plot(*zip(*val), "o-", label="validation", markersize=3)
        best_step, best_loss = min(val, key=lambda point: point[1])
        ax.plot([best_step], [best_loss], "*", markersize=12, color="black",
                label=f"best {best_loss:.4f} (step {best_step})")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    if train or val:
        ax.legend()
    path = os.fspath(path)
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.tmp.png")
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)
    return path
