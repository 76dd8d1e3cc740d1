"""The command-line vocabulary: one flag spelling per concept across every script.

A script that has a concept spells it with the `flag` of its `Term` (listed first, so that `--help` and the
argparse `dest` use it); older spellings of that script (the original unMORE, CutLER and Detectron2 command
lines, or earlier versions of this repository) stay as aliases of the same argument, and only the spellings
in `aliases` may serve so. `tests/test_scripts_cli.py` checks every script's parser against `TERMS`, and
docs/DEVELOPING.md shows `markdown_table()`.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Term:
    """One concept of the command lines: its flag, the older spellings kept as aliases, and a note."""

    concept: str
    flag: str
    aliases: tuple[str, ...] = ()
    note: str = ""


TERMS: tuple[Term, ...] = (
    Term("output folder", "--output_dir", ("--out", "--out_dir", "--output"),
         "the folder a script writes into (the detector: also its `OUTPUT_DIR` key)"),
    Term("output file", "--output_path", ("--out", "--output", "--output_json"),
         "the one file a script writes"),
    Term("config file", "--config_file", ("--config-file", "--config"), "a YAML config"),
    Term("device", "--device", (), "`cpu`, `cuda`, `cuda:N` (the detector: also its `MODEL.DEVICE` key)"),
    Term("seed", "--seed", (), "the random seed (what it seeds: the script's help)"),
    Term("data-loading workers", "--num_workers", (),
         "worker processes reading the data (0: the main process)"),
    Term("evaluation only", "--eval_only", ("--eval-only", "--eval_mode"),
         "evaluate a trained checkpoint and stop (R-MONet's `--eval CKPT` = `--eval_only --resume CKPT`)"),
    Term("resume", "--resume", (),
         "bare or `auto`: continue from the output folder's checkpoint if there is one; `PATH`: from that "
         "checkpoint (the detector: Detectron2's boolean `--resume`)"),
)


def term_of(spelling: str) -> list[Term]:
    """The terms whose flag or aliases include `spelling` (an alias may serve more than one concept)."""
    return [t for t in TERMS if spelling == t.flag or spelling in t.aliases]


def markdown_table() -> str:
    """The vocabulary as the Markdown table of docs/DEVELOPING.md."""
    rows = ["| concept | flag | older spellings kept as aliases | meaning |", "|---|---|---|---|"]
    for t in TERMS:
        aliases = ", ".join(f"`{a}`" for a in t.aliases) or "-"
        rows.append(f"| {t.concept} | `{t.flag}` | {aliases} | {t.note} |")
    return "\n".join(rows)
