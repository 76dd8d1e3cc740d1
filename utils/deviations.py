"""Command-line flags for deliberate deviations from the original unMORE code, and `--original_behaviour`.

Each deviation is one flag whose argparse default is `None`; `resolve_deviations` fills it with the
project's default, or with the original code's value when `--original_behaviour` is given. A flag given
explicitly always wins, so `--original_behaviour --nms_score boundary` is the original with one change.
Every help text says whether the default is the original behaviour and, if not, why not.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class Deviation:
    """One switchable behaviour: `default` (ours), `original` (the original code) and why they differ."""

    dest: str
    default: object
    original: object
    why: str = ""

    def help(self, what: str) -> str:
        if self.default == self.original:
            return f"{what} Default {self.default!r}: the original behaviour."
        return (f"{what} Default {self.default!r}, NOT the original ({self.original!r}): {self.why} "
                "--original_behaviour sets it back.")


def add_original_switch(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--original_behaviour", action="store_true",
                       help="set every deviation below back to the original code's behaviour at once (a flag "
                            "given explicitly still wins)")


def resolve_deviations(args: argparse.Namespace, deviations: tuple[Deviation, ...]) -> argparse.Namespace:
    """Set each deviation flag left at None to the default, or with `--original_behaviour` the original."""
    original = bool(getattr(args, "original_behaviour", False))
    for d in deviations:
        if getattr(args, d.dest, None) is None:
            setattr(args, d.dest, d.original if original else d.default)
    return args
