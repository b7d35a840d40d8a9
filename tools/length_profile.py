"""Build (or check) the bundled conversation-length profile of ``tianping loadtest --prompts profile:chat``.

The profile is the (prompt words, reply words) pairs of real chat conversations in the shared datasets: the
500 Arena-Hard v0.1 questions with GPT-4-0314's answers, and the 805 AlpacaEval instructions with
GPT-4-1106-preview's outputs (AlpacaEval's baseline). Real users' prompts are short and replies long; a load test
with one fixed length measures neither the queueing of a mixed batch nor the prefill of the long tail.

    python tools/length_profile.py --data-dir ../shared/datasets            # rewrite the profile
    python tools/length_profile.py --data-dir ../shared/datasets --check    # exit 1 if it differs
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "tianping" / "serving" / "profiles" / "chat.json"
ARENA = "arena-hard-auto/data/arena-hard-v0.1"
ALPACA = "alpacaeval/results/gpt4_1106_preview/model_outputs.json"


def words(text: str) -> int:
    return len(text.split())


def arena_pairs(data_dir: Path) -> list[tuple[int, int]]:
    questions = {}
    for line in (data_dir / ARENA / "question.jsonl").read_text("utf-8").splitlines():
        row = json.loads(line)
        questions[row["uid"]] = row["prompt"]
    pairs = []
    for line in (data_dir / ARENA / "model_answer" / "gpt-4-0314.jsonl").read_text("utf-8").splitlines():
        row = json.loads(line)
        reply = row["messages"][-1]["content"]
        answer = reply["answer"] if isinstance(reply, dict) else reply
        pairs.append((words(questions[row["uid"]]), words(answer)))
    return pairs


def alpaca_pairs(data_dir: Path) -> list[tuple[int, int]]:
    rows = json.loads((data_dir / ALPACA).read_text("utf-8"))
    return [(words(r["instruction"]), words(r["output"])) for r in rows]


def build(data_dir: Path) -> dict:
    arena, alpaca = arena_pairs(data_dir), alpaca_pairs(data_dir)
    return {
        "name": "chat",
        "unit": "words (whitespace-separated)",
        "sources": [
            f"{ARENA}/question.jsonl + model_answer/gpt-4-0314.jsonl ({len(arena)} pairs)",
            f"{ALPACA} ({len(alpaca)} pairs)",
        ],
        "built_by": "tools/length_profile.py",
        "pairs": [list(p) for p in arena + alpaca],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--check", action="store_true", help="compare with the bundled file; exit 1 on a difference")
    args = parser.parse_args()
    text = json.dumps(build(args.data_dir), separators=(",", ":")) + "\n"
    if args.check:
        same = OUT.is_file() and OUT.read_text("utf-8") == text
        print("profile up to date" if same else f"{OUT} differs from what the data gives")
        return 0 if same else 1
    OUT.write_text(text, "utf-8")
    print(f"wrote {OUT} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
