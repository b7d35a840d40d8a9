"""Rebuild the package-name snapshot the package-hallucination probe checks against.

    python tools/build_package_snapshot.py --pypi pypi.tsv --npm npm.tsv --date 2026-12-06 \
        --npm-min-downloads 480 --out src/tianping/safety/app_probes/data/package_names.bloom

Each list is a text or TSV file with the package name in its first column (a header line starting with
``name`` is skipped): for PyPI, every project name (the simple index); for npm, the names to count as existing
(a complete list, or those above a download threshold, which ``--npm-min-downloads`` then records).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tianping.safety.app_probes.packages import build


def _names(path: Path) -> list[str]:
    names = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f):
            name = line.split("\t", 1)[0].strip()
            if not name or (i == 0 and name == "name"):
                continue
            names.append(name)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pypi", type=Path, required=True)
    parser.add_argument("--npm", type=Path, required=True)
    parser.add_argument("--date", required=True, help="the day the lists were taken (YYYY-MM-DD)")
    parser.add_argument("--npm-min-downloads", type=int, default=None)
    parser.add_argument("--rate", type=float, default=0.01, help="Bloom filter false-positive rate")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    names = {"pypi": _names(args.pypi), "npm": _names(args.npm)}
    meta = {"date": args.date, "sources": {"pypi": "every project name", "npm": "names listed"}}
    if args.npm_min_downloads is not None:
        meta["npm_min_downloads"] = args.npm_min_downloads
        meta["sources"] = {"pypi": "every project name", "npm": f"at least {args.npm_min_downloads} downloads/month"}
    data = build(names, meta, args.rate)
    args.out.write_bytes(data)
    print(f"{args.out}: {len(data) / 1e6:.2f} MB, {sum(len(v) for v in names.values())} names")


if __name__ == "__main__":
    main()
