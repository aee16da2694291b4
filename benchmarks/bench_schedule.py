"""What another T1 learning-rate schedule would have done, from the validation curves of stored
backbones: the loop's schedule (warm-up, plateau cuts, convergence after `max_decays` cuts,
patience) is a function of the validation curve alone, and training up to the stop is the same
run, so the stop epoch and best epoch under another `max_decays` follow from the manifest's
history exactly. Prints, per backbone, the epochs run and the best epoch now and under each
setting, and whether the best (hence the stored artifact) would be the same.

    python benchmarks/bench_schedule.py .pcl .pcl-ml100k/study      # every backbone manifest under them
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def simulate(valid: list[float], *, warmup: int, decay_patience: int | None, max_decays: int | None,
             patience: int) -> tuple[int, int, float]:
    """(epochs run, best epoch, best score) of training/loop.fit's schedule on this validation curve."""
    best, best_epoch, cuts, last_cut = float("-inf"), 0, 0, 0
    for epoch, score in enumerate(valid, start=1):
        if epoch - best_epoch > patience and best > float("-inf"):
            return epoch - 1, best_epoch, best
        if score > best:
            best, best_epoch = score, epoch
        if decay_patience is not None and epoch > warmup and epoch - max(best_epoch, last_cut) >= decay_patience:
            if max_decays is not None and cuts >= max_decays:
                return epoch, best_epoch, best
            cuts, last_cut = cuts + 1, epoch
    return len(valid), best_epoch, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("homes", nargs="+", type=Path)
    parser.add_argument("--max-decays", default="0,1,2,3")
    args = parser.parse_args()
    settings = [int(v) for v in args.max_decays.split(",")]
    for home in args.homes:
        for path in sorted(home.rglob("backbone/backbone.json")):
            m = json.loads(path.read_text(encoding="utf-8"))
            p, valid = m["params"], [r["valid"] for r in m["history"]]
            ran = simulate(valid, warmup=p["warmup_epochs"], decay_patience=p["decay_patience"],
                           max_decays=p["max_decays"], patience=p["patience"])
            if ran[0] != len(valid) or ran[1] != m["best_epoch"]:
                print(f"{path}: the curve does not replay (cap reached or another loop); skipped")
                continue
            cells = []
            for md in settings:
                stop, best_epoch, best = simulate(valid, warmup=p["warmup_epochs"], decay_patience=p["decay_patience"],
                                                  max_decays=md, patience=p["patience"])
                same = "same best" if best_epoch == m["best_epoch"] else f"best {best:.4f} vs {m['best_valid_ndcg@10']:.4f}"
                cells.append(f"max_decays={md}: {stop} epochs, best {best_epoch} ({same})")
            print(f"{path.relative_to(home)} (max_decays {p['max_decays']}: {len(valid)} epochs, best "
                  f"{m['best_epoch']}) | " + " | ".join(cells))


if __name__ == "__main__":
    main()
