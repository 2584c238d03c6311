"""The thesis' transcribed tables (train/experiments/thesis_tables.yaml): shape, every row and
quote against the thesis' text, and every cell of our experiment files mapped or excused."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from echostream.train.experiments import thesis
from echostream.train.experiments.grid import EXPERIMENTS, load_experiment
from echostream.train.experiments.thesis import (
    our_cells,
    thesis_findings,
    thesis_mean,
    thesis_table,
    thesis_tables,
    thesis_value,
)

REPO = Path(__file__).resolve().parents[2]
THESIS_TEXT = REPO.parent / "shared" / thesis._data()["source"]["file"]


@cache
def _text_lines() -> list[str]:
    if not THESIS_TEXT.is_file():
        pytest.skip(f"the thesis' text is not at {THESIS_TEXT}")
    return THESIS_TEXT.read_text(encoding="utf-8").splitlines()


def _norm(s: str) -> str:
    """Words hyphenated across a line break joined, whitespace collapsed."""
    return " ".join(re.sub(r"-\n\s*", "", s).split())


def _span(lines: tuple[int, int] | list[int]) -> list[str]:
    """Lines ``lines[0]``..``lines[1]`` (1-based, inclusive) of the thesis' text, stripped."""
    return [s.strip() for s in _text_lines()[lines[0] - 1 : lines[1]]]


def _span_text(lines: tuple[int, int] | list[int]) -> str:
    return _norm("\n".join(_span(lines)))


def test_tables_load_with_one_value_per_column():
    numbers = [t.number for t in thesis_tables()]
    assert {"4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "D.1", "D.2"} <= set(numbers)
    assert len(numbers) == len(set(numbers))
    for t in thesis_tables():
        assert t.rows, t.number
        assert t.lines[0] <= t.lines[1]
        for row in t.rows:
            assert len(row) == len(t.columns), (t.number, row)
            assert row[0], (t.number, row)  # the row key is never missing


def test_every_row_is_a_line_of_its_table_in_the_text():
    for t in thesis_tables():
        span = _span(t.lines)
        for row in t.rows:
            printed = " ".join(v for v in row if v is not None)
            assert printed in span, f"Table {t.number}: {printed!r} not in lines {t.lines}"
        text = _span_text(t.lines)
        assert text.startswith(f"Table {t.number}: {t.caption}"), t.number
        for col in t.columns if t.columns_printed else []:
            assert col in text, (t.number, col)


@pytest.mark.parametrize(
    ("number", "row", "column", "printed"),
    [
        ("4.1", "Test set sequence accuracy", "Performance", "92.7%"),
        ("4.2", "Maximum validation accuracy", "InceptionV3", "94.3%"),
        ("4.2", "Recall", "NasNet", "85%"),
        ("4.4", "SC2000 & ie33", "MobileNet", "87.3%"),
        ("4.4", "Epiq", "Baseline", "88.0%"),
        ("4.5", "5%", "Number of images", "18608"),
        ("4.6", "0.1%", "MobileNet Random", "39.3% / 34.0%"),
        ("4.6", "25%", "Baseline", "93.3% / 90.0%"),
        ("D.1", "Conv block 13", "Layer name in Keras", "conv_dw_13"),
        ("D.2", "Conv block 2", "Layer name in Keras", "block2_conv1"),
    ],
)
def test_spot_checks_against_the_text(number, row, column, printed):
    table = thesis_table(number)
    assert table.value(row, column) == printed
    assert f"{row} " in _span_text(table.lines) and printed in _span_text(table.lines)


def test_totals_add_up_where_the_thesis_is_consistent():
    t32 = thesis_table("3.2")
    body, total = t32.rows[:-1], t32.rows[-1]
    for col in range(1, len(t32.columns)):
        assert sum(int(r[col] or 0) for r in body) == int(total[col] or 0)
    images = thesis_table("3.1").rows
    assert sum(int(r[1] or 0) for r in images[:-1]) == int(images[-1][1] or 0)
    assert sum(int(v or 0) for v in total[1:]) == int(images[-1][1] or 0) - int(
        thesis_table("3.1").value("UNKNOWN", "Images") or 0
    )


def test_quotes_are_verbatim_at_their_lines():
    data = thesis._data()
    quoted = [(p["quote"], p["lines"]) for p in data["parameters"]]
    quoted += [(t["quote"], t["lines"]) for t in data["text_numbers"].values()]
    for f in thesis_findings():
        quoted += [(f.quote, f.lines), (f.support["quote"], f.support["lines"])]
    for quote, lines in quoted:
        assert _norm(quote) in _span_text(lines), (lines, quote)
    for t in data["text_numbers"].values():
        assert t["value"] in t["quote"]


def test_four_findings_and_their_numbers_are_the_thesis():
    findings = thesis_findings()
    assert [f.experiment for f in findings] == ["exp2", "exp2", "exp3", "exp4"]
    text = _norm("\n".join(_text_lines()))
    for f in findings:
        for number in re.findall(r"\d+(?:\.\d+)?%", f.evidence):
            assert number in text, (f.id, number)
        named = [c for k, v in f.cells.items() if k in ("compare", "higher", "lower") for c in v]
        mapped = {**our_cells(f.experiment)["cells"], **our_cells(f.experiment)["no_counterpart"]}
        assert set(named) <= set(mapped), f.id


def test_thesis_values_of_our_cells():
    assert thesis_value("exp2", "inception_v3_full").text == "91%"
    assert thesis_value("exp2", "baseline_reference", "sequence_accuracy").text == "92.7%"
    assert thesis_value("exp2", "mobilenet_gradual_1") is None
    v = thesis_value("exp3", "mobilenet__ie33+sc2000")
    assert (v.text, v.metric, v.source) == ("87.3%", "max_val_accuracy", "Table 4.4")
    assert thesis_value("exp3", "baseline__epiq7g", "frame_accuracy") is None  # no test set
    assert thesis_value("exp4", "mobilenet_random__0.1pct").percent == 34.0
    assert thesis_value("exp4", "mobilenet_random__0.1pct", "max_val_accuracy").text == "39.3%"
    assert thesis_value("exp1", "exp1_baseline_rmsprop_flips", "max_val_accuracy").text == "90.7%"
    assert thesis_value("exp1", "exp1_baseline_rmsprop_flips") is None
    pairs = ["mobilenet__epiq7g+ie33", "mobilenet__epiq7g+sc2000", "mobilenet__ie33+sc2000"]
    assert thesis_mean("exp3", pairs) == pytest.approx((85.6 + 86.2 + 87.3) / 3)
    assert thesis_mean("exp3", [*pairs, "no_such_cell"]) is None


@pytest.mark.parametrize("experiment", ["exp1", "exp2", "exp3", "exp4"])
def test_every_cell_of_our_experiment_files_is_mapped_or_excused(experiment):
    path = REPO / "configs" / f"{EXPERIMENTS[experiment]}.yaml"
    scales = yaml.safe_load(path.read_text())["scales"]
    ours = {c.name for s in scales for c in load_experiment(path, scale=s).cells}
    section = our_cells(experiment)
    mapped, excused = set(section["cells"]), set(section["no_counterpart"])
    assert not mapped & excused
    assert ours == mapped | excused  # nothing unmapped, nothing stale
    for cell in mapped:  # exp1's RMSprop runs: only a maximum validation accuracy
        metric = "max_val_accuracy" if "rmsprop" in cell else None
        assert thesis_value(experiment, cell, *([metric] if metric else [])) is not None, cell


def test_every_exp1_training_config_is_a_cell_of_the_exp1_grid():
    files = [yaml.safe_load(p.read_text()) for p in (REPO / "configs").glob("exp1_*.yaml")]
    names = {d["name"] for d in files if "experiment" not in d}  # training configs only
    grid = load_experiment(REPO / "configs" / "exp1_baseline.yaml", scale="cpu")
    assert names == {c.name for c in grid.cells}


def test_mapping_agrees_with_the_cell_names():
    """Each cell's network names its thesis column, its vendors or fraction its row."""
    columns = {
        "exp2": {"baseline": "Performance", "nasnet_mobile": "NasNet", "vgg16": "VGG16",
                 "inception_v3": "InceptionV3", "mobilenet": "MobileNet"},
        "exp3": {"baseline": "Baseline", "mobilenet": "MobileNet"},
        "exp4": {"baseline": "Baseline", "mobilenet_imagenet": "MobileNet ImageNet",
                 "mobilenet_random": "MobileNet Random"},
    }  # fmt: skip
    vendor = {"epiq7g": "Epiq", "ie33": "ie33", "sc2000": "SC2000"}
    for experiment, by_network in columns.items():
        for cell, entry in our_cells(experiment)["cells"].items():
            network = cell.split("__")[0].removesuffix("_reference").rsplit("_full", 1)[0]
            assert entry["column"] == by_network[network], (experiment, cell)
            if experiment == "exp3":
                trained = {vendor[v] for v in cell.split("__")[1].split("+")}
                assert set(entry["row"].split(" & ")) == trained, cell
            if experiment == "exp4":
                assert entry["row"] == cell.split("__")[1].replace("pct", "%"), cell
