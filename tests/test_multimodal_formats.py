"""The vision data layouts users bring (VLMEvalKit TSV, MMMU records, image folder + JSONL) and CircularEval,
on small files written by the tests."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import pytest

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import load_dataset
from tianping.benchmarks.registry import build
from tianping.core import GenerationParams
from tianping.multimodal.circular import circular_scores, rotations


def png(seed: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (12, 8), (seed * 40 % 256, 100, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


TSV_HEADER = "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\tl2-category"


def write_tsv(path: Path, *rows: str) -> Path:
    path.write_text("\n".join([TSV_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_a_vlmevalkit_tsv_reads_options_hints_and_shared_images(tmp_path: Path) -> None:
    one, two = png(1), png(2)
    path = write_tsv(
        tmp_path / "mmbench.tsv",
        f"10\tWhat colour is the sky?\tLook up.\tblue\tgreen\tred\tgrey\tA\tattribute\t{b64(one)}\tperception",
        "11\tWhich shape is it?\tnan\tsquare\tcircle\ttriangle\t\tC\tshape\t10\tperception",
        f"12\tHow many?\t\t1\t2\t\t\tB\tcount\t{b64(two)}\treasoning",
    )
    samples = load_dataset("vlm_tsv", path, {}).samples
    assert [s.id for s in samples] == ["10", "11", "12"]
    assert [s.target for s in samples] == ["A", "C", "B"]
    assert [s.fields["choices"] for s in samples][1:] == [["square", "circle", "triangle"], ["1", "2"]]
    assert [s.media[0].sha256 for s in samples] == [sha(one), sha(one), sha(two)]  # row 11 names row 10's image
    assert samples[0].fields["prompt"] == (
        "Hint: Look up.\nQuestion: What colour is the sky?\nOptions:\nA. blue\nB. green\nC. red\nD. grey\n"
        "Please select the correct answer from the options above. \n"
    )
    assert samples[1].fields["prompt"].startswith("Question: Which shape is it?\n")  # "nan": no hint
    assert samples[2].meta == {"category": "count", "file": "mmbench.tsv", "line": 4, "l2_category": "reasoning"}


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ("1\tq\t\ta\tb\t\t\tE\tc\t{img}\tx", r"mmbench.tsv:2: answer 'E' is not one of the option letters AB"),
        ("1\tq\t\ta\tb\t\t\tA\tc\t%%%notbase64%%%{pad}\tx", r"mmbench.tsv:2: field 'image': not base64"),
        ("1\tq\t\ta\tb\t\t\tA\tc\t7\tx", r"mmbench.tsv:2: field 'image' names row index '7', which has no image"),
        ("1\tq\t\ta\tb\t\tA\tc\t{img}", r"mmbench.tsv:2: expected 11 tab-separated cells, got 9"),
        (f"1\tq\t\ta\tb\t\t\tA\tc\t{b64(b'GIF? no' * 20)}\tx", r"mmbench.tsv:2: field 'image'.*not PNG, JPEG"),
    ],
)
def test_a_bad_tsv_row_is_named_by_file_line_and_field(tmp_path: Path, row: str, error: str) -> None:
    path = write_tsv(tmp_path / "mmbench.tsv", row.replace("{img}", b64(png(1))).replace("{pad}", "x" * 80))
    with pytest.raises(DatasetError, match=error):
        load_dataset("vlm_tsv", path, {})


def test_a_tsv_without_an_image_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.tsv"
    path.write_text("index\tquestion\tA\tB\tanswer\n1\tq\ta\tb\tA\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"x.tsv:1: header has no 'image' column"):
        load_dataset("vlm_tsv", path, {})


def write_definition(folder: Path, loader: str, path: str, options: dict | None = None) -> Path:
    text = {
        "name": "mine",
        "version": "1",
        "dataset": {"loader": loader, "path": path, "options": options or {}},
        "prompt": {"question": "{{ prompt }}"},
        "scoring": {"extractor": "choice"},
    }
    file = folder / "mine.yaml"
    file.write_text(json.dumps(text), encoding="utf-8")
    return file


def test_mmmu_records_put_each_image_where_its_label_stands(tmp_path: Path) -> None:
    one, two = png(3), png(4)
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "two.png").write_bytes(two)
    rows = [
        {
            "id": "validation_Art_1",
            "question": "Compare <image 1> with <image 2>. Which is older?",
            "options": "['the first', 'the second']",
            "answer": "B",
            "image_1": b64(one),
            "image_2": {"path": "pics/two.png"},
            "subfield": "Art History",
        },
        {"id": "validation_Math_2", "question": "What is x in <image 1>?", "answer": "42", "question_type": "open",
         "image_1": {"bytes": b64(one)}},
    ]  # fmt: skip
    data = tmp_path / "mmmu.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    loaded = load_dataset("mmmu_jsonl", data, {})
    assert [s.target for s in loaded.samples] == ["B", "42"]
    assert (
        loaded.samples[0].meta["category"] == "Art History"
        and (tmp_path / "pics" / "two.png").resolve() in loaded.files
    )
    (bench,) = build(str(write_definition(tmp_path, "mmmu_jsonl", "mmmu.jsonl")), tmp_path)
    bench.load()
    request = bench.build_request(bench.samples[0], "openai/v", GenerationParams())
    content = json.loads(request.payload_json)["messages"][-1]["content"]
    assert [p.get("sha256", p.get("text", "")[:20]) for p in content] == [
        "Question: Compare ",
        sha(one),
        " with ",
        sha(two),
        ". Which is older?\nOp",
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**rows[0], "image_2": {"path": "../../etc/passwd"}}), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad.jsonl:1: field 'image_2': path '../../etc/passwd' leads outside"):
        load_dataset("mmmu_jsonl", bad, {})
    bad.write_text(json.dumps({**rows[0], "options": "not a list"}), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad.jsonl:1: field 'options' is not a list"):
        load_dataset("mmmu_jsonl", bad, {})


def test_an_image_folder_with_jsonl_questions(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    for k in range(3):
        (tmp_path / "img" / f"{k}.png").write_bytes(png(k))
    rows = [
        {"id": "a", "image": "0.png", "question": "What colour?", "answer": "blue", "category": "colour"},
        {"id": "b", "image": ["1.png", "2.png"], "question": "Same?", "choices": ["yes", "no"], "answer": "B"},
    ]
    data = tmp_path / "q.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    loaded = load_dataset("image_jsonl", data, {"images": "img"})
    assert [len(s.media) for s in loaded.samples] == [1, 2]
    assert [s.media[0].sha256 for s in loaded.samples] == [sha(png(0)), sha(png(1))]
    assert (
        loaded.samples[1]
        .fields["prompt"]
        .endswith("A. yes\nB. no\nPlease select the correct answer from the options above. \n")
    )
    assert len(loaded.files) == 4  # the questions and the three pictures: all in the run's checksum
    data.write_text(json.dumps({**rows[0], "image": "../q.jsonl"}), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"q.jsonl:1: field 'image': '../q.jsonl' leads outside"):
        load_dataset("image_jsonl", data, {"images": "img"})
    data.write_text(json.dumps({**rows[0], "image": "9.png"}), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"q.jsonl:1: field 'image': cannot read .*9.png"):
        load_dataset("image_jsonl", data, {"images": "img"})
    with pytest.raises(DatasetError, match=r"unknown option\(s\) image_dir"):
        load_dataset("image_jsonl", data, {"image_dir": "img"})


def test_circular_eval_rotates_the_options_and_counts_a_question_only_when_every_rotation_is_right(
    tmp_path: Path,
) -> None:
    assert rotations(["w", "x", "y", "z"], "B") == [
        (["w", "x", "y", "z"], "B"),
        (["x", "y", "z", "w"], "A"),
        (["y", "z", "w", "x"], "D"),
        (["z", "w", "x", "y"], "C"),
    ]
    path = write_tsv(
        tmp_path / "mmbench.tsv",
        f"1\tq1\t\tblue\tgreen\tred\tgrey\tA\tc\t{b64(png(1))}\tx",
        f"2\tq2\t\tsquare\tcircle\ttriangle\t\tC\tc\t{b64(png(2))}\tx",
        f"3\tq3\t\tyes\tno\t\t\tB\tc\t{b64(png(3))}\tx",
    )
    samples = load_dataset("vlm_tsv", path, {"circular": True}).samples
    assert [s.id for s in samples] == ["1@0", "1@1", "1@2", "1@3", "2@0", "2@1", "2@2", "3@0", "3@1"]
    for s in samples:  # the right option's text is the same under every rotation
        original = next(
            o for o in samples if o.meta["circular_group"] == s.meta["circular_group"] and o.meta["rotation"] == 0
        )
        assert s.fields[s.target] == original.fields[original.target]

    def rows(answer) -> list[dict]:
        return [{"meta": s.meta, "score": 1.0 if answer(s) == s.target else 0.0} for s in samples]

    assert circular_scores(rows(lambda s: s.target)) == {"questions": 3, "vanilla": 1.0, "circular": 1.0}
    # always "A": right on rotation 0 of q1 and on one rotation of each question, never on all of them
    assert circular_scores(rows(lambda s: "A")) == {"questions": 3, "vanilla": 1 / 3, "circular": 0.0}
    # right everywhere but one rotation of q2: q2 is not counted; a missing rotation row counts as wrong too
    almost = rows(lambda s: s.target if s.id != "2@1" else "A")
    assert circular_scores(almost)["circular"] == pytest.approx(2 / 3)
    assert circular_scores([r for r in rows(lambda s: s.target) if r["meta"]["rotation"] != 3])[
        "circular"
    ] == pytest.approx(2 / 3)
    with pytest.raises(DatasetError, match="option 'circular' must be true or false"):
        load_dataset("vlm_tsv", path, {"circular": "yes"})
