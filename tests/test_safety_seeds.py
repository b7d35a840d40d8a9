"""Seed prompts: shared sets load with the stated row counts and attribution, every mapping targets a real leaf,
the project-written sets cover every leaf in Chinese, sampling is stratified and deterministic, filters work,
and malformed files fail with ``file:line: field: problem``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tianping.safety import seed_project
from tianping.safety.seed_io import DataFileError
from tianping.safety.seed_mapping import MAPPINGS_DIR, load_mapping, parse_mapping
from tianping.safety.seed_project import OVERREFUSAL_TYPES, read_code_grid, read_zh_harmful, read_zh_overrefusal
from tianping.safety.seed_sources import RawSeed
from tianping.safety.seeds import SHARED_SOURCES, SeedPrompt, coverage, load_seeds, sample_seeds
from tianping.safety.taxonomy import UnknownCategoryError, load_taxonomy

# Row counts stated in each folder's SOURCE.md (shared/datasets/safety/*/SOURCE.md).
EXPECTED_ROWS = {
    "advbench": 520,  # harmful_behaviors.csv (the 574 harmful strings are targets, not prompts)
    "harmbench": 400,  # 200 standard + 100 contextual + 100 copyright
    "strongreject": 313,  # full set; the 60-row small set is a subset
    "jailbreakbench": 100,  # behaviors.csv
    "donotanswer": 939,  # 176 + 117 + 248 + 243 + 155
    "xstest": 450,  # 250 safe + 200 unsafe contrasts
    "jailbench": 108,  # JailBench_seed.csv
    "flames-1k-zh": 1000,
    "cvalues": 664,
    "jade-db": 2230,  # v1 zh 150 + v1 en 80 + v2 easy 1000 + v2 medium 1000
}


@pytest.fixture(scope="module")
def shared_seeds(data_dir: Path) -> list[SeedPrompt]:
    return load_seeds(data_dir, sources=SHARED_SOURCES)


@pytest.fixture(scope="module")
def project_seeds() -> list[SeedPrompt]:
    return load_seeds(None)


def test_every_mapping_file_targets_existing_leaves() -> None:
    tax = load_taxonomy()
    for source in SHARED_SOURCES:
        mapping = load_mapping(source, tax)  # validates every leaf against the taxonomy
        targets = set(mapping.categories.values()) | {rule.leaf for rule in mapping.rules}
        targets |= {mapping.default} if mapping.default else set()
        assert targets and all(tax.is_leaf(leaf) for leaf in targets), source
    assert sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml")) == sorted(SHARED_SOURCES)


def test_shared_sources_load_with_expected_row_counts(shared_seeds: list[SeedPrompt]) -> None:
    assert Counter(seed.source for seed in shared_seeds) == EXPECTED_ROWS
    assert len({seed.id for seed in shared_seeds}) == len(shared_seeds)
    tax = load_taxonomy()
    for seed in shared_seeds:
        assert tax.is_leaf(seed.category), seed.id
        assert seed.id.startswith(seed.source + "/") and seed.text
        assert seed.meta["license"] and seed.meta["upstream_id"] and seed.meta["file"] and seed.meta["line"] >= 1


def test_shared_sources_keep_language_benign_flag_and_context(shared_seeds: list[SeedPrompt]) -> None:
    by_source: dict[str, list[SeedPrompt]] = {}
    for seed in shared_seeds:
        by_source.setdefault(seed.source, []).append(seed)
    xstest = by_source["xstest"]
    assert sum(seed.benign for seed in xstest) == 250
    assert all(not seed.benign for seed in xstest if seed.meta["type"].startswith("contrast_"))
    assert not any(seed.benign for source, seeds in by_source.items() if source != "xstest" for seed in seeds)
    assert Counter(seed.lang for seed in by_source["jade-db"]) == {"zh": 2150, "en": 80}
    assert {seed.lang for source in ("jailbench", "flames-1k-zh", "cvalues") for seed in by_source[source]} == {"zh"}
    contextual = [s for s in by_source["harmbench"] if s.meta["functional_category"] == "contextual"]
    assert len(contextual) == 100 and all(s.meta["context"] in s.text for s in contextual)
    assert Counter(s.meta["split"] for s in by_source["harmbench"]) == {"val": 80, "test": 320}
    assert by_source["jailbench"][0].meta["license"] == "MIT"
    assert by_source["xstest"][0].meta["license"] == "CC-BY-4.0"


def test_advbench_defaults_are_marked_not_silent(shared_seeds: list[SeedPrompt]) -> None:
    advbench = [s for s in shared_seeds if s.source == "advbench"]
    defaults = [s for s in advbench if s.meta["mapped_by"] == "default"]
    assert defaults and all(s.category == "redline.illegal.other" for s in defaults)
    assert len(defaults) < len(advbench) // 4  # the keyword rules do most of the work
    assert len({s.category for s in advbench}) >= 15


def test_unmapped_upstream_category_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(
        "source: x\nlicense: MIT\ncitation: c\ncategories:\n  a: redline.violence.weapons\n", encoding="utf-8"
    )
    mapping = parse_mapping(path, load_taxonomy())
    assert mapping.assign(RawSeed("1", "t", "en", "a", "f.csv", 2)) == ("redline.violence.weapons", "category")
    with pytest.raises(DataFileError, match=r"f\.csv:3: category: upstream category 'b'"):
        mapping.assign(RawSeed("2", "t", "en", "b", "f.csv", 3))


def test_rules_refine_by_text_or_named_field_first_match_wins(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "source: r\nlicense: MIT\ncitation: c\ncategories:\n  a: redline.illegal.other\nrules:\n"
        "  - {from: [a], match: '(?i)bomb', leaf: redline.violence.weapons}\n"
        "  - {field: label, match: '^Forgery$', leaf: redline.illegal.forgery}\n",
        encoding="utf-8",
    )
    mapping = parse_mapping(path, load_taxonomy())
    assert (
        mapping.assign(RawSeed("1", "build a BOMB", "en", "a", "f", 2, extra={"label": "Forgery"}))[0]
        == "redline.violence.weapons"
    )
    leaf, how = mapping.assign(RawSeed("2", "make papers", "en", "a", "f", 3, extra={"label": "Forgery"}))
    assert leaf == "redline.illegal.forgery" and how == f"rule 2 ({path.name}:8)"
    assert mapping.assign(RawSeed("3", "x", "en", "a", "f", 4, extra={"label": "Other"}))[0] == "redline.illegal.other"
    with pytest.raises(DataFileError, match=r"r\.yaml:8: rules\[1\]\.field: 'label' is not a text field"):
        mapping.assign(RawSeed("4", "x", "en", "a", "f", 5))


@pytest.mark.parametrize(
    ("body", "line", "field"),
    [
        ("categories:\n  a: redline.violence.weapon\n", 5, "categories.a"),
        ("categories:\n  a: redline.violence\n", 5, "categories.a"),
        (
            "categories:\n  a: redline.violence.weapons\n"
            "rules:\n  - {from: [b], match: x, leaf: redline.violence.cbrn}\n",
            7,
            "rules[0].from",
        ),
        (
            "categories:\n  a: redline.violence.weapons\nrules:\n  - {match: '(', leaf: redline.violence.cbrn}\n",
            7,
            "rules[0].match",
        ),
        ("default: redline.illegal.other\n", 4, "default_reason"),
    ],
)
def test_malformed_mapping_names_file_line_and_field(tmp_path: Path, body: str, line: int, field: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("source: m\nlicense: MIT\ncitation: c\n" + body, encoding="utf-8")
    with pytest.raises(DataFileError) as info:
        parse_mapping(path, load_taxonomy())
    assert (info.value.line, info.value.field) == (line, field)
    assert str(info.value).startswith(f"{path}:{line}: {field}: ")


def test_every_leaf_has_at_least_three_project_written_chinese_seeds(project_seeds: list[SeedPrompt]) -> None:
    written = [s for s in project_seeds if s.source == "tianping-zh"]
    table = coverage(written)
    assert table.thin(3, "zh") == []
    assert all(s.lang == "zh" for s in written)
    # harmful requests everywhere except the over-refusal leaves, which are benign by definition
    assert all(s.benign == s.category.startswith("service.over_refusal.") for s in written)


def test_english_written_set_fills_leaves_the_public_english_sets_leave_empty(
    shared_seeds: list[SeedPrompt], project_seeds: list[SeedPrompt]
) -> None:
    english = [s for s in project_seeds if s.source == "tianping-en"]
    assert english and all(s.lang == "en" for s in english)
    before = coverage([s for s in shared_seeds if s.lang == "en"])
    after = coverage([s for s in shared_seeds + project_seeds if s.lang == "en"])  # with the code grid
    assert before.thin(1, "en") and after.thin(3, "en") == []


def test_chinese_overrefusal_set(project_seeds: list[SeedPrompt]) -> None:
    probes = [s for s in project_seeds if s.source == "tianping-overrefusal-zh"]
    assert len(probes) >= 300
    assert all(s.benign and s.lang == "zh" for s in probes)
    types = Counter(s.meta["type"] for s in probes)
    assert set(types) == OVERREFUSAL_TYPES and min(types.values()) >= 25
    tax = load_taxonomy()
    assert all(tax.is_leaf(s.category) for s in probes)
    assert len({s.text for s in probes}) == len(probes)


def test_code_grid_size_and_labels(project_seeds: list[SeedPrompt]) -> None:
    code = [s for s in project_seeds if s.source == "tianping-code"]
    languages = {s.meta["language"] for s in code}
    scenarios = {s.meta["scenario"] for s in code}
    framings = {s.meta["framing"] for s in code}
    assert len(languages) >= 6 and len(scenarios) >= 10
    assert len(code) == len(languages) * len(scenarios) * len(framings) * 2
    assert Counter(s.lang for s in code) == {"zh": len(code) // 2, "en": len(code) // 2}
    assert {s.meta["kind"] for s in code} == {"malicious", "insecure"}
    assert all(s.category.startswith("system.") for s in code)
    assert all(s.meta["code"] is True for s in code if s.category.startswith("system.code."))
    keylogger = next(s for s in code if s.id == "tianping-code/keylogger/go/direct/en")
    assert keylogger.text.startswith("Write a Go program that") and keylogger.category == "system.code.malware"


def test_project_sets_load_without_data_dir_and_shared_ones_need_it() -> None:
    project = {"tianping-zh", "tianping-en", "tianping-overrefusal-zh", "tianping-code"}
    assert {s.source for s in load_seeds(None)} == project
    assert {s.source for s in load_seeds(None, sources=["tianping"])} == project
    with pytest.raises(ValueError, match="needs data_dir"):
        load_seeds(None, sources=["advbench"])
    with pytest.raises(ValueError, match="unknown seed source"):
        load_seeds(None, sources=["advbnch"])


def test_filters_by_category_pattern_language_and_benign(data_dir: Path) -> None:
    violence = load_seeds(data_dir, categories="redline.violence")
    assert violence and {s.category for s in violence} <= set(load_taxonomy().select("redline.violence"))
    assert {s.lang for s in violence} == {"en", "zh"}
    zh_only = load_seeds(data_dir, categories=["redline.violence.weapons"], langs="zh")
    assert zh_only and all(s.lang == "zh" and s.category == "redline.violence.weapons" for s in zh_only)
    benign = load_seeds(data_dir, benign=True)
    assert benign and all(s.benign for s in benign)
    assert {s.source for s in benign} >= {"xstest", "tianping-overrefusal-zh"}
    assert not any(s.benign for s in load_seeds(data_dir, sources=["xstest"], benign=False))
    with pytest.raises(UnknownCategoryError, match="did you mean"):
        load_seeds(None, categories=["redline.violnce"])
    with pytest.raises(ValueError, match="unknown language"):
        load_seeds(None, langs=["fr"])


def test_stratified_sampling_is_deterministic_and_spreads_over_leaves(data_dir: Path) -> None:
    seeds = load_seeds(data_dir)
    n_leaves = len({s.category for s in seeds})
    first = sample_seeds(seeds, n_leaves, seed=7)
    assert [s.id for s in first] == [s.id for s in sample_seeds(list(reversed(seeds)), n_leaves, seed=7)]
    assert len({s.category for s in first}) == n_leaves  # one per leaf before any leaf gets a second
    two_rounds = sample_seeds(seeds, 2 * n_leaves, seed=7)
    per_leaf = Counter(s.category for s in two_rounds)
    bilingual = {s.category for s in seeds if s.lang == "en"} & {s.category for s in seeds if s.lang == "zh"}
    assert all(count == 2 for count in per_leaf.values() if count) and len(per_leaf) == n_leaves
    assert all(
        {s.lang for s in two_rounds if s.category == leaf} == {"en", "zh"} for leaf in bilingual if per_leaf[leaf] == 2
    )
    assert [s.id for s in sample_seeds(seeds, 50, seed=8)] != [s.id for s in sample_seeds(seeds, 50, seed=7)]
    assert len(sample_seeds(seeds[:10], 100)) == 10
    with pytest.raises(ValueError):
        sample_seeds(seeds, -1)


def test_coverage_table_counts_leaf_by_language() -> None:
    seeds = [
        SeedPrompt("a/1", "t", "zh", "redline.violence.weapons", "a", False),
        SeedPrompt("a/2", "t", "en", "redline.violence.weapons", "a", False),
        SeedPrompt("a/3", "t", "zh", "redline.violence.weapons", "a", False),
    ]
    table = coverage(seeds)
    assert table.get("redline.violence.weapons", "zh") == 2 and table.get("redline.violence.weapons", "en") == 1
    assert table.get("redline.violence.cbrn", "zh") == 0
    assert "redline.violence.cbrn" in table.thin(1, "zh") and "redline.violence.weapons" not in table.thin(1, "zh")
    assert "redline.violence.weapons" in table.format()


def _jsonl(tmp_path: Path, name: str, records: list[dict | str]) -> Path:
    path = tmp_path / name
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records) + "\n",
        encoding="utf-8",
    )
    return path


GOOD_HARM = {"id": "x-1", "category": "redline.violence.weapons", "text": "请求"}
GOOD_ORF = {"id": "h-1", "type": "homonyms", "resembles": "redline.violence.physical_harm", "text": "怎样杀掉进程？"}


@pytest.mark.parametrize(
    ("reader", "records", "line", "field"),
    [
        (read_zh_harmful, [GOOD_HARM, "{not json"], 2, "json"),
        (read_zh_harmful, [GOOD_HARM, {**GOOD_HARM, "id": "x-2", "category": "redline.violence.gun"}], 2, "category"),
        (read_zh_harmful, [GOOD_HARM, {**GOOD_HARM, "id": "x-2", "text": "  "}], 2, "text"),
        (read_zh_harmful, [GOOD_HARM, GOOD_HARM], 2, "id"),
        (read_zh_harmful, [GOOD_HARM, {**GOOD_HARM, "id": "x-3", "catgory": "a"}], 2, "catgory"),
        (read_zh_overrefusal, [GOOD_ORF, {**GOOD_ORF, "id": "h-2", "type": "puns"}], 2, "type"),
        (
            read_zh_overrefusal,
            [GOOD_ORF, {k: v for k, v in GOOD_ORF.items() if k != "resembles"} | {"id": "h-3"}],
            2,
            "resembles",
        ),
    ],
)
def test_malformed_project_prompt_files_give_file_line_errors(
    tmp_path: Path, reader, records: list, line: int, field: str
) -> None:
    path = _jsonl(tmp_path, "p.jsonl", records)
    with pytest.raises(DataFileError) as info:
        reader(path, load_taxonomy())
    assert (info.value.line, info.value.field) == (line, field)
    assert str(info.value).startswith(f"{path}:{line}: {field}: ")


def test_malformed_code_grid_gives_file_line_errors(tmp_path: Path) -> None:
    text = (seed_project.PROMPTS_DIR / "code_grid.yaml").read_text(encoding="utf-8")
    path = tmp_path / "grid.yaml"
    path.write_text(text.replace("kind: insecure", "kind: sloppy", 1), encoding="utf-8")
    bad_line = text.splitlines().index("    kind: insecure") + 1
    with pytest.raises(DataFileError) as info:
        read_code_grid(path, load_taxonomy())
    assert info.value.line == bad_line and info.value.field.endswith(".kind")
    path.write_text(text.replace("{task}。", "{tsk}。", 1), encoding="utf-8")
    with pytest.raises(DataFileError, match=r"framings\[0\]\.zh"):
        read_code_grid(path, load_taxonomy())
    path.write_text(text.replace("leaf: system.code.malware", "leaf: redline.violence.weapons", 1), encoding="utf-8")
    with pytest.raises(DataFileError, match="belong under system"):
        read_code_grid(path, load_taxonomy())


def test_malformed_shared_files_name_file_line_and_field(tmp_path: Path) -> None:
    from tianping.safety.seed_sources import read_advbench, read_flames, read_xstest

    (tmp_path / "advbench").mkdir()
    bad_csv = tmp_path / "advbench" / "harmful_behaviors.csv"
    bad_csv.write_text("prompt,target\nx,y\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=rf"{bad_csv}:1: goal: missing column"):
        read_advbench(tmp_path)
    bad_csv.write_text('goal,target\n"multi\nline",ok\n,empty goal\n', encoding="utf-8")
    with pytest.raises(DataFileError, match=rf"{bad_csv}:4: goal: empty prompt text"):
        read_advbench(tmp_path)
    (tmp_path / "flames-1k-zh").mkdir()
    bad_jsonl = tmp_path / "flames-1k-zh" / "Flames_1k_Chinese.jsonl"
    bad_jsonl.write_text(
        '{"dimension": "a", "subcomponent": "b", "prompt": "p"}\n{"dimension": "a"}\n', encoding="utf-8"
    )
    with pytest.raises(DataFileError, match=rf"{bad_jsonl}:2: subcomponent: missing"):
        read_flames(tmp_path)
    with pytest.raises(DataFileError, match="xstest_prompts.csv: file: missing"):
        read_xstest(tmp_path)


def test_the_seeds_command_says_why_the_shared_sets_are_missing_and_how_to_get_them(tmp_path: Path) -> None:
    """A fresh machine's data folder lacks safety/: 'weapons, en: 0' alone read as a fact about the data."""
    from engine_helpers import cli

    done = cli("safety", "seeds", env={"TIANPING_DATA_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert f"project sets only: the shared sets are not in {tmp_path}/safety (tianping data pull safety)" in done.stdout
