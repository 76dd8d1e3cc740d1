"""Typed configs (utils/config.py): flags, deviations, mappings and overrides from one dataclass."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Literal

import pytest

from utils.config import (
    add_arguments,
    add_original_switch,
    apply_override,
    cli_values,
    from_mapping,
    from_namespace,
    load_yaml,
    option,
    to_dict,
)
from utils.io import DataError


@dataclass
class Inner:
    thresh: float = option(0.5, "a threshold")


@dataclass
class Example:
    steps: int = option(3, "number of steps", group="loop")
    mode: Literal["fast", "slow"] = option("fast", "how to run")
    sizes: list[int] = option([1, 2], "sizes")
    verbose: bool = option(False, "talk more")
    name: str | None = option(None, "optional name", aliases=("--title",))
    nms: str = option("boundary", "NMS score", original="constant", why="ours ranks by boundary")
    inner: Inner = field(default_factory=Inner)


def parse(argv: list[str]) -> Example:
    p = argparse.ArgumentParser()
    add_arguments(p, Example)
    add_original_switch(p)
    return from_namespace(Example, p.parse_args(argv), inner=Inner())


def test_flags_carry_defaults_types_and_choices():
    cfg = parse([])
    assert cfg == Example()
    cfg = parse(["--steps", "7", "--mode", "slow", "--sizes", "4", "5", "--verbose", "--title", "x"])
    assert (cfg.steps, cfg.mode, cfg.sizes, cfg.verbose, cfg.name) == (7, "slow", [4, 5], True, "x")
    with pytest.raises(SystemExit):
        parse(["--mode", "medium"])


def test_mutable_defaults_are_not_shared():
    a, b = Example(), Example()
    a.sizes.append(9)
    assert b.sizes == [1, 2]


def test_deviation_defaults_original_switch_and_explicit_flag_wins():
    assert parse([]).nms == "boundary"
    assert parse(["--original_behaviour"]).nms == "constant"
    assert parse(["--original_behaviour", "--nms", "boundary"]).nms == "boundary"
    p = argparse.ArgumentParser()
    add_arguments(p, Example)
    text = p.format_help().replace("\n", " ")
    assert "NOT the original ('constant')" in " ".join(text.split())


def test_cli_values_are_the_command_line_fields_only():
    @dataclass
    class Partly:
        shown: int = option(1, "a flag")
        hidden: float = option(0.5, "no flag", cli=False)
        inner: Inner = field(default_factory=Inner)

    assert cli_values(Partly(shown=4)) == {"shown": 4}
    assert cli_values(parse(["--steps", "5"]))["steps"] == 5


def test_mapping_nested_unknown_key_and_round_trip():
    cfg = from_mapping(Example, {"steps": 2, "inner": {"thresh": 0.25}})
    assert cfg.steps == 2 and cfg.inner.thresh == 0.25
    assert from_mapping(Example, to_dict(cfg)) == cfg
    with pytest.raises(DataError, match=r"unknown config key inner\.thres \(did you mean thresh\?\)"):
        from_mapping(Example, {"inner": {"thres": 1}}, what="cfg.yaml")
    with pytest.raises(DataError, match="must be a mapping"):
        from_mapping(Example, ["steps"])
    with pytest.raises(DataError, match="cfg.yaml: inner must be a mapping, got 5"):
        from_mapping(Example, {"inner": 5}, what="cfg.yaml")
    with pytest.raises(DataError, match=r"cfg.yaml: mode must be one of \['fast', 'slow'\], got 'medium'"):
        from_mapping(Example, {"mode": "medium"}, what="cfg.yaml")


def test_overrides_parse_yaml_values_into_nested_sections():
    data: dict = {"inner": {"thresh": 0.5}}
    apply_override(data, "inner.thresh=1e-3")
    apply_override(data, "sizes=[3, 4]")
    apply_override(data, "new.section.key=null")
    assert data == {"inner": {"thresh": 1e-3}, "sizes": [3, 4], "new": {"section": {"key": None}}}
    with pytest.raises(DataError, match="expected KEY=VALUE"):
        apply_override(data, "inner.thresh")
    with pytest.raises(DataError, match="is a value, not a section"):
        apply_override(data, "sizes.x=1")


def test_load_yaml_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(DataError, match="bad.yaml is not valid YAML"):
        load_yaml(bad)
    with pytest.raises(DataError, match="config file not found"):
        load_yaml(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(DataError, match="must be a mapping"):
        load_yaml(tmp_path / "list.yaml")
