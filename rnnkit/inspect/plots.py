"""The inspection pictures as static PNGs (docs, reports): gradient flow and gate saturation.

matplotlib is imported lazily and drawn through the Agg canvas (no pyplot, no global
backend), as the loss curve (:mod:`rnnkit.training.plot`); files are written atomically.
"""

from __future__ import annotations

import os

from rnnkit.errors import InputError, RnnkitError

CELL_COLOURS = {"rnn": "#1f77b4", "gru": "#2ca02c", "lstm": "#d62728", "lnlstm": "#9467bd"}


def _figure(width, height):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise RnnkitError("the plots need matplotlib: pip install 'rnnkit[apps]'") from exc
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> str:
    path = os.fspath(path)
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.tmp.png")
    fig.savefig(tmp, format="png", bbox_inches="tight")
    os.replace(tmp, path)
    return path


def plot_vanishing_study(study: dict, path, title: str = "") -> str:
    """``||dL/dh_t||`` by distance from the loss, each cell at initialisation (dashed) and
    trained (solid), log scale: the result of :func:`rnnkit.inspect.vanishing_study`."""
    fig = _figure(7, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    for cell, entry in study.items():
        colour = CELL_COLOURS.get(cell)
        for key, style, when in (("init", "--", "at init"), ("trained", "-", "trained")):
            norms = entry[key][::-1]                        # by distance 0 .. T-1
            ax.semilogy(range(len(norms)), norms, style, color=colour, linewidth=1.4,
                        label=f"{cell.upper()} {when}"
                              + (f" (MSE {entry['mse_trained']:.3f})" if key == "trained" else ""))
    ax.set_xlabel("distance from the loss (steps back)")
    ax.set_ylabel("||dL/dh_t|| (mean over sequences)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, ncol=2)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)


def plot_gate_saturation(saturation: list, path) -> str:
    """The paper's scatter, one panel per layer: left- (x) against right-saturated (y)
    fraction of each unit, one colour per gate."""
    layers = list(dict.fromkeys(s.layer for s in saturation))
    if not layers:
        raise InputError("there are no gates to plot (an Elman RNN has none)")
    fig = _figure(3.4 * len(layers), 3.4)
    for k, layer in enumerate(layers):
        ax = fig.add_subplot(1, len(layers), k + 1)
        for s in (s for s in saturation if s.layer == layer):
            ax.scatter(s.left, s.right, s=8, alpha=0.6, label=s.gate)
        ax.plot([0, 1], [1, 0], color="#ccc", linewidth=0.8)
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(layer, fontsize=10)
        ax.set_xlabel("fraction < 0.1")
        if k == 0:
            ax.set_ylabel("fraction > 0.9")
        ax.legend(fontsize=7)
    return _save(fig, path)
