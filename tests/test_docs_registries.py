"""The docs' lists of backbones, existence archs and boundary activations are the registries', in order.

Two forms are checked in README.md and docs/*.md: a list tagged with its registry,
"(`models.backbones.BACKBONE_TYPES`): `a`, `b`, ...", and a flag's choices, `--flag {a,b}` or `--flag a|b`.
A failure message gives the line to write.
"""

import importlib
import re
from pathlib import Path

import pytest

from models.backbones import BACKBONE_TYPES
from models.objectness_net import EXISTENCE_ARCHS, SDF_ACTIVATIONS

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FLAG_CHOICES = {"backbone_type": BACKBONE_TYPES, "existence_arch": EXISTENCE_ARCHS,
                "sdf_activation": SDF_ACTIVATIONS}
TAGGED = re.compile(r"\(`((?:\w+\.)+[A-Z_]+)`\):\s+((?:`\w+`,\s+)*`\w+`)")
FLAG = re.compile(r"--(\w+) (\{[\w,]+\}|\w+(?:\|\w+)+)")


def _registry(dotted: str) -> tuple[str, ...]:
    module, name = dotted.rsplit(".", 1)
    return tuple(getattr(importlib.import_module(module), name))


def _text(path: Path) -> str:
    return re.sub(r"\s*\n\s*", " ", path.read_text())  # a list may wrap over lines


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_tagged_lists_are_the_registries(path):
    for dotted, listed in TAGGED.findall(_text(path)):
        names = tuple(re.findall(r"`(\w+)`", listed))
        expected = ", ".join(f"`{n}`" for n in _registry(dotted))
        assert names == _registry(dotted), f"{path.name}: write (`{dotted}`): {expected}"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_flag_choices_are_the_registries(path):
    for flag, listed in FLAG.findall(_text(path)):
        if flag in FLAG_CHOICES:
            names = tuple(re.split(r"[{},|]", listed.strip("{}")))
            assert names == FLAG_CHOICES[flag], f"{path.name}: --{flag} {{{','.join(FLAG_CHOICES[flag])}}}"


def test_the_backbone_table_has_one_row_per_backbone():
    text = (REPO / "docs" / "stage1.md").read_text()
    table = text.split("### Backbones (`--backbone_type`)", 1)[1].split("\n\n", 2)[1]
    rows = tuple(re.findall(r"^\| `(\w+)`", table, re.M))
    assert rows == BACKBONE_TYPES


def test_interfaces_lists_every_registry():
    text = _text(REPO / "docs" / "INTERFACES.md")
    tagged = {dotted for dotted, _ in TAGGED.findall(text)}
    assert {"models.backbones.BACKBONE_TYPES", "models.objectness_net.EXISTENCE_ARCHS",
            "models.objectness_net.SDF_ACTIVATIONS"} <= tagged
