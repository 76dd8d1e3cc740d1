"""The runtime section shared by every script: device, seed, data-loading workers and output location.

Each setting is declared once here, with its help, range and flag; a script's config takes the ones it needs
with `runtime_option(name, ...)` (its own default, and a `detail` saying what the setting does in that
script, appended to the shared help). Aliases must be spellings that `utils/cli_vocabulary.py` allows for the
flag, so every script spells and describes these settings the same way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from utils.cli_vocabulary import TERMS
from utils.config import option, same_option

RUNTIME_GROUP = "runtime"


@dataclass(frozen=True)
class RuntimeConfig:
    """The runtime settings of any script (where it runs, how it is seeded and fed, where it writes)."""

    device: str | None = option(None, "where to run: cpu, cuda or cuda:N")
    seed: int = option(0, "random seed")
    num_workers: int = option(0, "data-loading worker processes (0: the main process)", min=0)
    output_dir: str | None = option(None, "output folder")
    output_path: str | None = option(None, "output file")


RUNTIME_FIELDS = tuple(f.name for f in dataclasses.fields(RuntimeConfig))
# What a script may change of a runtime setting: its default and flag spellings, not its help or range.
_FIXED = {"help", "min", "max", "gt", "lt", "finite", "type", "choices"}


def runtime_help(name: str) -> str:
    """The shared help text of runtime setting `name` (what every script's help for it starts with)."""
    return next(f for f in dataclasses.fields(RuntimeConfig) if f.name == name).metadata["help"]


def runtime_option(name: str, detail: str = "", **changes: Any) -> Any:
    """Runtime setting `name` as a field of a script's config: the shared help (then `; detail`) and range;
    `changes` may set the default, aliases (spellings the vocabulary allows for `--name`), group, `required`
    and other argparse keywords, but not the help or the range."""
    fixed = _FIXED & set(changes)
    if fixed:
        raise TypeError(f"runtime setting {name}: {sorted(fixed)} come from RuntimeConfig")
    allowed = {a for t in TERMS if t.flag == f"--{name}" for a in t.aliases}
    stray = set(changes.get("aliases", ())) - allowed
    if stray:
        raise ValueError(f"--{name}: aliases {sorted(stray)} are not in utils/cli_vocabulary.py")
    text = runtime_help(name)
    return same_option(RuntimeConfig, name, help=f"{text}; {detail}" if detail else text, **changes)
