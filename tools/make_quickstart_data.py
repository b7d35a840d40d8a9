"""Cut the small benchmark subsets that ship with tianping for the offline quickstart.

    python tools/make_quickstart_data.py --from ../shared/datasets

Writes ``src/tianping/quickstart_data/`` in the upstream layouts (so the ordinary loaders read it): a few
MMLU and CMMLU subjects (first 10 test rows and the 5 dev rows each), the first 40 ARC-Easy and
ARC-Challenge test items, the first 20 GSM8K test problems, and the licenses and a SOURCE.md. Deterministic:
the same input gives the same files.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src" / "tianping" / "quickstart_data"
MMLU_SUBJECTS = ("astronomy", "high_school_geography", "elementary_mathematics", "world_religions")
CMMLU_SUBJECTS = ("chinese_history", "high_school_geography", "elementary_mathematics", "world_religions")
TEST_ROWS, DEV_ROWS, ARC_ROWS, GSM8K_ROWS = 10, 5, 40, 20


def _csv_head(src: Path, dst: Path, rows: int) -> None:
    """The header and the first ``rows`` records of a CSV (records may span lines: parsed, not cut by line)."""
    with src.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        kept = [next(reader)] + [row for _, row in zip(range(rows), reader, strict=False)]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(kept)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(buf.getvalue(), encoding="utf-8")


def _lines_head(src: Path, dst: Path, rows: int) -> None:
    with src.open(encoding="utf-8") as f:
        kept = [line for _, line in zip(range(rows), f, strict=False)]
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("".join(kept), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--from", dest="src", type=Path, required=True, help="the full datasets folder")
    args = ap.parse_args()
    src: Path = args.src
    if OUT.exists():
        shutil.rmtree(OUT)
    for subject in MMLU_SUBJECTS:
        _csv_head(src / "mmlu/test" / f"{subject}_test.csv", OUT / "mmlu/test" / f"{subject}_test.csv", TEST_ROWS)
        _csv_head(src / "mmlu/dev" / f"{subject}_dev.csv", OUT / "mmlu/dev" / f"{subject}_dev.csv", DEV_ROWS)
    for subject in CMMLU_SUBJECTS:
        _csv_head(src / "cmmlu/test" / f"{subject}.csv", OUT / "cmmlu/test" / f"{subject}.csv", TEST_ROWS)
        _csv_head(src / "cmmlu/dev" / f"{subject}.csv", OUT / "cmmlu/dev" / f"{subject}.csv", DEV_ROWS)
    for part in ("ARC-Easy", "ARC-Challenge"):
        _lines_head(src / "arc" / part / f"{part}-Test.jsonl", OUT / "arc" / part / f"{part}-Test.jsonl", ARC_ROWS)
    _lines_head(src / "gsm8k/test.jsonl", OUT / "gsm8k/test.jsonl", GSM8K_ROWS)
    shutil.copy(src / "mmlu/LICENSE", OUT / "mmlu/LICENSE")
    shutil.copy(src / "cmmlu/LICENSE-CC-BY-NC-SA-4.0.txt", OUT / "cmmlu/LICENSE-CC-BY-NC-SA-4.0.txt")
    shutil.copy(src / "gsm8k/LICENSE", OUT / "gsm8k/LICENSE")
    (OUT / "SOURCE.md").write_text(
        "# Quickstart data\n\n"
        "Small excerpts of public benchmarks, cut by `tools/make_quickstart_data.py` so that `tianping quickstart`\n"
        "runs on a machine with no network and no data directory. Upstream layouts and licenses are kept:\n\n"
        "| folder | excerpt | source | license |\n|---|---|---|---|\n"
        f"| mmlu | {', '.join(MMLU_SUBJECTS)}: first {TEST_ROWS} test + {DEV_ROWS} dev rows | "
        "hendrycks/test (Hendrycks et al. 2021) | MIT (`mmlu/LICENSE`) |\n"
        f"| cmmlu | {', '.join(CMMLU_SUBJECTS)}: first {TEST_ROWS} test + {DEV_ROWS} dev rows | "
        "haonan-li/CMMLU (Li et al. 2023) | CC BY-NC-SA 4.0 (`cmmlu/LICENSE-CC-BY-NC-SA-4.0.txt`), non-commercial |\n"
        f"| arc | first {ARC_ROWS} test items of ARC-Easy and ARC-Challenge | allenai/arc (Clark et al. 2018) | "
        "CC BY-SA 4.0 |\n"
        f"| gsm8k | first {GSM8K_ROWS} test problems | openai/grade-school-math (Cobbe et al. 2021) | "
        "MIT (`gsm8k/LICENSE`) |\n\n"
        "Scores on these excerpts exercise the pipeline; they are not benchmark results.\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
