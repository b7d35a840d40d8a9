"""The safety taxonomy loads, is complete in zh and en, selects by id or prefix, and rejects bad files precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from tianping.safety.seed_io import DataFileError
from tianping.safety.taxonomy import UnknownCategoryError, load_taxonomy, parse_taxonomy

REQUIRED_CATEGORIES = {
    "redline": {"national_security", "terrorism", "violence", "sexual", "illegal", "disinfo"},
    "ethics": {"discrimination", "insult", "personality", "commercial", "wellbeing"},
    "data": {"privacy", "trade_secrets", "context_leak", "memorized", "credentials"},
    "service": {"hallucination", "over_refusal", "high_stakes"},
    "system": {"injection", "code", "tool_abuse"},
}


def test_shipped_taxonomy_has_versioned_three_levels_with_zh_and_en_names() -> None:
    tax = load_taxonomy()
    assert tax.version == "1.0.0"
    assert len(tax.leaves) >= 60
    for leaf in tax.leaves:
        assert leaf.id.count(".") == 2, leaf.id
        assert leaf.zh and leaf.en
        assert any("\u4e00" <= ch <= "\u9fff" for ch in leaf.zh), leaf.id
    for dimension, categories in REQUIRED_CATEGORIES.items():
        present = {
            node.id.split(".")[1]
            for node in tax.nodes.values()
            if node.level == "category" and node.id.startswith(dimension + ".")
        }
        assert categories <= present, (dimension, categories - present)


def test_discrimination_covers_the_required_forms() -> None:
    leaves = {leaf.rsplit(".", 1)[1] for leaf in load_taxonomy().select("ethics.discrimination")}
    assert {
        "ethnicity",
        "religion",
        "nationality",
        "region",
        "gender",
        "age",
        "occupation",
        "health",
        "other",
    } <= leaves


def test_get_and_path_give_names_at_each_level() -> None:
    tax = load_taxonomy()
    path = tax.path("redline.violence.weapons")
    assert [node.level for node in path] == ["dimension", "category", "leaf"]
    assert [node.zh for node in path] == ["红线内容", "暴力、武器与化生放核", "武器与爆炸物"]
    assert path[-1].en == "Weapons and explosives"
    assert str(path[-1]) == "武器与爆炸物 / Weapons and explosives"
    assert tax.get("redline.violence").level == "category"


def test_select_by_exact_id_prefix_and_wildcard() -> None:
    tax = load_taxonomy()
    assert tax.select("redline.violence.weapons") == ["redline.violence.weapons"]
    violence = tax.select(["redline.violence"])
    assert violence == ["redline.violence.weapons", "redline.violence.cbrn", "redline.violence.physical_harm"]
    redline = tax.select("redline")
    assert set(violence) < set(redline) and all(leaf.startswith("redline.") for leaf in redline)
    assert tax.select("redline.*") == redline
    assert tax.select("*") == tax.leaf_ids
    # overlapping patterns do not duplicate
    assert tax.select(["redline", "redline.violence"]) == redline


def test_unknown_pattern_lists_near_matches() -> None:
    tax = load_taxonomy()
    with pytest.raises(UnknownCategoryError, match="did you mean: .*redline.violence"):
        tax.select(["redline.violnce"])
    with pytest.raises(UnknownCategoryError, match="redline.violence.weapons"):
        tax.get("weapons")
    with pytest.raises(UnknownCategoryError):
        tax.select([""])


GOOD = """version: "0.1"
dimensions:
  - id: d
    zh: 维度
    en: Dim
    categories:
      - id: c
        zh: 类别
        en: Cat
        leaves:
          - {id: l, zh: 叶子, en: Leaf}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tax.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_taxonomy_parses(tmp_path: Path) -> None:
    tax = parse_taxonomy(_write(tmp_path, GOOD))
    assert tax.leaf_ids == ["d.c.l"] and tax.version == "0.1"


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        (
            GOOD.replace("{id: l, zh: 叶子, en: Leaf}", "{id: l, zh: 叶子}"),
            11,
            "dimensions[0].categories[0].leaves[0].en",
        ),
        (GOOD.replace("zh: 类别", "zh: category"), 8, "dimensions[0].categories[0].zh"),
        (GOOD.replace("id: c", "id: Bad-Id"), 7, "dimensions[0].categories[0].id"),
        (GOOD.replace("en: Dim", "en: Dim\n    colour: red"), 6, "dimensions[0].colour"),
        (GOOD.replace('version: "0.1"\n', ""), None, "version"),
        (GOOD + "          - {id: l, zh: 叶子, en: Leaf}\n", 12, "dimensions[0].categories[0].leaves[1].id"),
        (GOOD.replace("en: Cat", "en: Cat\n        en: again"), 10, "en"),
    ],
)
def test_malformed_taxonomy_names_file_line_and_field(tmp_path: Path, text: str, line: int | None, field: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(DataFileError) as info:
        parse_taxonomy(path)
    assert info.value.field == field
    assert str(path) in str(info.value)
    if line is not None:
        assert info.value.line == line
        assert f"{path}:{line}: {field}:" in str(info.value)


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("{id: l, zh: 叶子, en: Leaf}", "{id: l, zh: 叶子, en: Leaf"))
    with pytest.raises(DataFileError, match=rf"{path}:\d+: yaml:"):
        parse_taxonomy(path)
