"""Training curves as PNG bytes (stored by the artifact store, shown inline by the Dagster UI), and the
study's bar charts."""
from __future__ import annotations

import io


def training_curve_png(history: list[dict], title: str) -> bytes:
    """Loss and validation score per epoch, on two axes, as a small PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(5, 3), dpi=80)
    ax.plot(epochs, [h["loss"] for h in history], color="tab:blue", label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("train loss", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(epochs, [h["valid"] for h in history], color="tab:orange", label="validation")
    ax2.set_ylabel("validation score", color="tab:orange")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def bar_chart_png(values: dict[str, float], title: str, ylabel: str) -> bytes:
    """One bar per name, as a small PNG (the study's forgetting and task-order charts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3), dpi=80)
    names = list(values)
    ax.bar(range(len(names)), [values[n] for n in names], color="tab:blue")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
