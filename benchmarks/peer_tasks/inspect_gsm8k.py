"""inspect-ai task for benchmarks/peers.py: zero-shot GSM8K on the first ``n`` items of a local JSONL.

    inspect eval benchmarks/peer_tasks/inspect_gsm8k.py -T data_file=/abs/gsm8k/test.jsonl -T n=200 ...

The prompt is the same "Question: ...\\nAnswer:" text the lm-eval peer task sends; the target is the number
after ``####`` in the answer field; scoring is a numeric match at the end of the output.
"""

import json

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import match
from inspect_ai.solver import generate


def _samples(data_file: str, n: int) -> list[Sample]:
    samples: list[Sample] = []
    with open(data_file, encoding="utf-8") as f:
        for line in f:
            if len(samples) >= n:
                break
            if not line.strip():
                continue
            row = json.loads(line)
            target = row["answer"].rsplit("####", 1)[-1].strip().replace(",", "")
            samples.append(Sample(input=f"Question: {row['question']}\nAnswer:", target=target, id=len(samples) + 1))
    if len(samples) < n:
        raise ValueError(f"{data_file} has only {len(samples)} items, {n} asked for")
    return samples


@task
def gsm8k_local(data_file: str, n: int = 200) -> Task:
    return Task(
        dataset=MemoryDataset(_samples(data_file, int(n)), name="gsm8k_local"),
        solver=generate(),
        scorer=match(numeric=True),
    )
