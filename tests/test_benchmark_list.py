"""``tianping benchmarks`` tells a user what each task measures, how big it is, how it is scored, under what
license its data is (non-commercial and unlicensed data flagged) and whether the data is on this machine."""

from __future__ import annotations

import json
from pathlib import Path

from engine_helpers import cli
from tianping.benchmarks.registry import builtin_definitions
from tianping.data.catalog import catalog


def _listing(data_dir: Path, *extra: str) -> dict:
    done = cli("benchmarks", "--json", "--data-dir", str(data_dir), *extra)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_every_bundled_benchmark_is_listed_with_its_facts_and_its_datas_license(data_dir: Path) -> None:
    listed = {t["name"]: t for t in _listing(data_dir)["tasks"]}
    for name, (definition, _) in builtin_definitions().items():
        row = listed[name]
        assert row["items"] == definition.about.items and row["task_type"] == definition.about.task_type
        if definition.about.data == "generated":  # drawn by its loader (tp_vision): tianping's own, nothing to fetch
            assert row["data"] == "generated" and row["dataset"] is None, name
            assert row["license"] == "Apache-2.0 (tianping's own)", name
            continue
        assert row["data"] == "present", name
        entry = catalog()[row["dataset"]]
        if entry.parts:  # gathered from sources under their own terms: test_each_exam_of_agieval_has_its_own_terms
            continue
        assert row["license"] == entry.license
        expected_flag = {False: "non-commercial", None: "no license stated"}.get(entry.commercial, "")
        assert row["license_flag"] == expected_flag, name
    # the README of the data names these as non-commercial or unlicensed; the listing must say so
    assert listed["cmmlu"]["license_flag"] == "non-commercial"
    assert listed["gsm8k"]["license_flag"] == ""
    assert listed["mmlu"]["metric"] == "accuracy" and listed["humaneval"]["metric"] == "pass@1"
    assert listed["safety"]["license_flag"] == "non-commercial"  # donotanswer is CC BY-NC-SA


def test_each_exam_of_agieval_and_each_safety_task_has_its_sources_terms(data_dir: Path) -> None:
    """AGIEval's data/v1/LICENSE: Gaokao, SAT, LSAT and MATH MIT, AQuA-RAT Apache-2.0, LogiQA CC BY-NC-SA 4.0,
    JEC-QA academic research only. Flagging every exam non-commercial would keep an enterprise from the MIT ones;
    the few-shot variants read the same exam's examples and have its terms."""
    listed = {t["name"]: t for t in _listing(data_dir)["tasks"]}
    expected = {
        "agieval_gaokao_biology": ("MIT", ""),
        "agieval_sat_en_without_passage_fewshot": ("MIT", ""),
        "agieval_lsat_ar": ("MIT", ""),
        "agieval_math": ("MIT", ""),
        "agieval_aqua_rat_fewshot": ("Apache-2.0", ""),
        "agieval_logiqa_zh": ("CC-BY-NC-SA-4.0", "non-commercial"),
        "agieval_logiqa_en_fewshot": ("CC-BY-NC-SA-4.0", "non-commercial"),
        "agieval_jec_qa_kd": ("academic research only (JEC-QA)", "non-commercial"),
        # over-refusal prompts are XSTest's (CC BY 4.0); the attack suite draws on Do-Not-Answer too
        "safety_overrefusal": ("CC-BY-4.0", ""),
    }
    assert {name: (listed[name]["license"], listed[name]["license_flag"]) for name in expected} == expected
    assert listed["safety"]["license_flag"] == "non-commercial" and "donotanswer" in listed["safety"]["license"]
    assert sum(t["license_flag"] == "non-commercial" for n, t in listed.items() if n.startswith("agieval_")) == 8


def test_the_families_the_issue_names_are_bundled_and_flagged() -> None:
    families = {d.about.data or d.dataset.path.split("/")[0] for d, _ in builtin_definitions().values()}
    assert len(families) >= 22, sorted(families)  # YAML families alone, without the safety suite
    flags = {name: catalog()[name].commercial for name in ("c3", "ocnli", "cluewsc", "gsm-plus", "cmmlu", "ceval")}
    assert flags == {"c3": False, "ocnli": False, "cluewsc": None, "gsm-plus": None, "cmmlu": False, "ceval": False}


def test_a_data_folder_without_the_files_lists_them_as_missing_with_the_pull_command(tmp_path: Path) -> None:
    listed = {t["name"]: t for t in _listing(tmp_path)["tasks"]}
    assert listed["gsm8k"]["data"] == "missing"
    table = cli("benchmarks", "--data-dir", str(tmp_path))
    assert table.returncode == 0
    text = " ".join(table.stdout.split())  # rich wraps long lines at the terminal's width
    fetch = text.split("fetch it with: tianping data pull ", 1)[1].split(" check the license")[0].split()
    assert "gsm8k" in fetch and "cmmlu" in fetch
    assert "NON-COMMERCIAL" in text and "check the license before commercial use" in text


def test_suites_are_listed_with_their_tasks(data_dir: Path) -> None:
    suites = _listing(data_dir)["suites"]
    assert suites["core-zh"]["tasks"] and suites["core-zh"]["description"]
    assert suites["safety"]["tasks"] == ["safety", "safety_overrefusal"]


def test_every_bundled_task_states_a_license_and_a_plugins_own_data_does_not_claim_one(
    data_dir: Path, tmp_path: Path
) -> None:
    """Tasks tianping wrote itself (the agent environments) are listed under its license as bundled; a plugin's
    generated set is left unstated rather than given tianping's license."""
    plugin = tmp_path / "plugins"
    plugin.mkdir()
    definition = (Path(__file__).parent.parent / "src/tianping/benchmarks/defs/tp_longctx.yaml").read_text()
    (plugin / "mine.yaml").write_text(definition.replace("name: tp_longctx", "name: my_generated", 1))
    listed = {t["name"]: t for t in _listing(data_dir, "--include-path", str(plugin))["tasks"]}
    assert listed["my_generated"]["data"] == "generated" and listed["my_generated"]["license"] == ""
    unstated = [n for n, t in listed.items() if not t["license"] and n != "my_generated"]
    assert not unstated, unstated
    assert listed["agent_files"]["license"] == "Apache-2.0 (tianping's own)"
    assert listed["agent_files"]["data"] == "bundled"


def test_in_80_columns_the_listing_keeps_what_fits_and_says_where_the_rest_is(data_dir: Path) -> None:
    """Nine columns folded into 80 read as "licens / e" and "succes / s"; five fit, and the rest is a flag away."""
    done = cli("benchmarks", "--data-dir", str(data_dir), env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "name" in line and "license" in line)
    assert [h.strip() for h in header.strip("┃ ").split("┃")] == ["name", "items", "metric", "license", "data"]
    assert "kind, task type, languages and modes: in a wider terminal, or with --json" in done.stdout
    assert "│ gsm8k " in done.stdout and "│ MIT " in done.stdout
