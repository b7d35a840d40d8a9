"""Build the clean reference corpus from Debian packages, check it against the test sets, write a manifest.

    python tools/refmodels/build_corpus.py --work /tmp/tp-refmodels --data-dir /work/shared/datasets

Steps: ``apt-get download`` each package of ``sources.SOURCES`` into ``<work>/debs``, unpack it with
``dpkg-deb -x``, turn its files into documents, drop any document that shares a 13-gram with a GSM8K or
CMMLU test item, and write ``<work>/corpus.jsonl`` (one ``{"source", "file", "lang", "text"}`` per line) and
``<work>/corpus_manifest.json`` (package versions, licences, SHA-256 of every .deb and copyright file,
document and character counts, and the overlap check's result).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from overlap import OverlapIndex
from sources import SOURCES, Source


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(source: Source, debs: Path) -> Path:
    """The package's .deb in ``debs``, downloaded with apt-get unless a copy is already there."""
    found = sorted(debs.glob(f"{source.package}_*.deb"))
    if not found:
        result = subprocess.run(["apt-get", "download", source.package], cwd=debs, capture_output=True, text=True)
        found = sorted(debs.glob(f"{source.package}_*.deb"))
        if result.returncode != 0 or not found:
            raise RuntimeError(f"apt-get download {source.package} failed: {result.stderr.strip()[-500:]}")
    if len(found) > 1:
        raise RuntimeError(f"{debs}: several versions of {source.package}: {[p.name for p in found]}; keep one")
    return found[0]


def unpack(deb: Path, target: Path) -> Path:
    """Unpack ``deb`` into ``target`` (fresh) with dpkg-deb."""
    if not target.exists():
        target.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
    return target


def deb_version(deb: Path) -> str:
    """The package version recorded in the .deb's control file."""
    out = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def build(work: Path, data_dir: Path) -> dict:
    """Fetch, unpack, read and check every source; returns the manifest (also written to ``work``)."""
    debs = work / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    index = OverlapIndex.from_data(data_dir)
    manifest: dict = {"sources": [], "overlap_check": {}}
    dropped: list[dict] = []
    total_docs = total_chars = 0
    with (work / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for source in SOURCES:
            deb = fetch(source, debs)
            root = unpack(deb, work / "unpacked" / source.package)
            copyright_file = root / "usr/share/doc" / source.package / "copyright"
            docs = chars = 0
            for rel, text in source.reader(root):
                hits = index.hits(text)
                if hits:
                    dropped.append({"source": source.package, "file": rel, "hits": hits, "chars": len(text)})
                    continue
                out.write(
                    json.dumps(
                        {"source": source.package, "file": rel, "lang": source.language, "text": text},
                        ensure_ascii=False,
                    )
                    + "\n"
                )
                docs += 1
                chars += len(text)
            manifest["sources"].append(
                {
                    "package": source.package,
                    "version": deb_version(deb),
                    "deb": deb.name,
                    "deb_sha256": sha256(deb),
                    "license": source.license,
                    "copyright_file_sha256": sha256(copyright_file) if copyright_file.exists() else None,
                    "language": source.language,
                    "documents": docs,
                    "characters": chars,
                }
            )
            total_docs += docs
            total_chars += chars
            print(f"{source.package}: {docs} documents, {chars} characters", file=sys.stderr)
    manifest["documents"] = total_docs
    manifest["characters"] = total_chars
    manifest["corpus_sha256"] = sha256(work / "corpus.jsonl")
    manifest["overlap_check"] = {
        "method": "13-grams: lower-cased words for GSM8K test (question + answer); characters without whitespace "
        "and punctuation for CMMLU test (question + choices). A document with any shared 13-gram "
        "is dropped before anything is written.",
        "test_items": index.items,
        "test_word_13grams": len(index.word_grams),
        "test_char_13grams": len(index.char_grams),
        "documents_dropped": dropped,
        "overlapping_documents_in_corpus": 0,
    }
    (work / "corpus_manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", "utf-8")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="work directory (debs, unpacked trees, corpus)")
    parser.add_argument("--data-dir", type=Path, required=True, help="benchmark data (gsm8k/, cmmlu/)")
    args = parser.parse_args()
    manifest = build(args.work, args.data_dir)
    print(json.dumps({k: manifest[k] for k in ("documents", "characters", "corpus_sha256")}))


if __name__ == "__main__":
    main()
