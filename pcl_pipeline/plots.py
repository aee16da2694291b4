"""Training curves as PNG bytes (stored by the artifact store, shown inline by the Dagster UI), and the
study's bar charts."""
from __future__ import annotations

import io


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (imported late: only plotting code pays for it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig, title: str) -> bytes:
    """Title, tight layout, PNG bytes; the figure is closed."""
    fig.axes[0].set_title(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    _pyplot().close(fig)
    return buffer.getvalue()


def training_curve_png(history: list[dict], title: str) -> bytes:
    """Loss and validation score per epoch, on two axes, as a small PNG."""
    epochs = [h["epoch"] for h in history]
    fig, ax = _pyplot().subplots(figsize=(5, 3), dpi=80)
    ax.plot(epochs, [h["loss"] for h in history], color="tab:blue", label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("train loss", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(epochs, [h["valid"] for h in history], color="tab:orange", label="validation")
    ax2.set_ylabel("validation score", color="tab:orange")
    return _png(fig, title)


def bar_chart_png(values: dict[str, float], title: str, ylabel: str) -> bytes:
    """One bar per name, as a small PNG (the study's forgetting and task-order charts)."""
    fig, ax = _pyplot().subplots(figsize=(6, 3), dpi=80)
    names = list(values)
    ax.bar(range(len(names)), [values[n] for n in names], color="tab:blue")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(ylabel)
    return _png(fig, title)


def heatmap_png(rows: list[str], cols: list[str], values: list[list[float]], title: str) -> bytes:
    """A row x column grid of values, each cell labelled (the study's forgetting heatmap)."""
    fig, ax = _pyplot().subplots(figsize=(1.6 + 1.3 * len(cols), 0.9 + 0.32 * len(rows)), dpi=80)
    image = ax.imshow(values, cmap="Reds", aspect="auto", vmin=0.0, vmax=max(max(map(max, values)), 1e-9))
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(cols, rotation=20, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=7)
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=6)
    fig.colorbar(image, ax=ax)
    return _png(fig, title)


def lines_png(series: dict[str, tuple[list[float], list[float]]], title: str, xlabel: str, ylabel: str) -> bytes:
    """One line per name (x values, y values), as a small PNG (the study's learning curves)."""
    fig, ax = _pyplot().subplots(figsize=(5, 3), dpi=80)
    for name, (x, y) in series.items():
        ax.plot(x, y, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    return _png(fig, title)
