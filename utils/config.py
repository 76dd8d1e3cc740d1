"""Typed configs: one dataclass per stage is the only source of each setting's default and help text.

A setting is a dataclass field made with `option(default, help)`. From the dataclass come:
- the command line: `add_arguments(parser, Cls)` adds one `--name` flag per field (type, choices, help);
  `from_namespace(Cls, args)` builds the config back from the parsed arguments; `typed_parser` builds a
  script's whole parser from its configs, `parse_config` also parses (every script's flags come from here,
  its device/seed/workers/output settings from `utils/runtime_config.py`);
- YAML + `--set key.sub=value`: `from_mapping(Cls, data)` builds a (nested) config from a mapping and
  rejects unknown keys with one line naming the key; `apply_override` edits a mapping in place.
A numeric field made with `option(..., min=, max=, gt=, lt=)` has a range, and a float field must be finite
unless `finite=False`: `check_value` enforces it for flags (as the argparse type), for `from_namespace`
and for `from_mapping` alike, so `--n_round -1`, `train.grad_clip=-1` or `nan` are refused naming the key.
A field made with `option(..., original=X, why="...")` is a deliberate deviation from the original code:
its flag defaults to `None`, `--original_behaviour` (see `add_original_switch`) sets every such field of
the script back to `X`, and a flag given explicitly always wins.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from utils.io import DataError

_UNSET = object()
DEVIATIONS_GROUP = "deviations from the original code (--original_behaviour sets all back)"


def option(
    default: Any,
    help: str = "",
    *,
    original: Any = _UNSET,
    why: str = "",
    aliases: tuple[str, ...] = (),
    group: str = "",
    cli: bool = True,
    min: float | None = None,
    max: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
    finite: bool = True,
    flags: tuple[str, ...] = (),
    positional: bool = False,
    **argparse_kwargs: Any,
) -> Any:
    """A config field: its default, its help text and how it appears on the command line.

    original/why: the original code's value and why ours differs (a deviation; see the module docstring).
    aliases: extra flag names (e.g. ("--image_size",)); group: argparse group title; cli=False keeps the
    field out of the command line; argparse_kwargs override what `add_arguments` infers (action, type ...).
    min/max (inclusive), gt/lt (exclusive): the range of a number (of each item of a list); finite=False
    admits nan/inf in a float field.
    flags: the option strings in place of `--name` (a spelling a field name cannot have, e.g. CutLER's
    `--confidence-threshold`); positional: the field is a positional argument (`name`, no dashes).
    The parsed value is always the namespace attribute `name` (the field's name).
    """
    meta = {
        "help": help,
        "original": original,
        "why": why,
        "aliases": tuple(aliases),
        "group": group,
        "cli": cli,
        "argparse": argparse_kwargs,
        "range": Range(min, max, gt, lt, finite),
        "flags": tuple(flags),
        "positional": positional,
    }
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)



def same_option(cls: type, name: str, **changes: Any) -> Any:
    """Field `name` of the config dataclass `cls` as a field of another config: the same setting with the
    same help, range, choices, aliases and group, each replaced where `changes` names it (`default=`,
    `help=`, `aliases=` ...). For a script or stage that takes a setting defined elsewhere."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    meta = f.metadata
    kwargs: dict[str, Any] = {
        "default": default_of(f), "help": meta["help"], "original": meta["original"], "why": meta["why"],
        "aliases": meta["aliases"], "group": meta["group"], "cli": meta["cli"],
        "flags": meta.get("flags", ()), "positional": meta.get("positional", False),
        **dataclasses.asdict(meta["range"]), **meta["argparse"],
    }
    kwargs.update(changes)
    return option(kwargs.pop("default"), **kwargs)

@dataclasses.dataclass(frozen=True)
class Range:
    """Allowed values of a number: min/max inclusive, gt/lt exclusive, finite (no nan/inf)."""

    min: float | None = None
    max: float | None = None
    gt: float | None = None
    lt: float | None = None
    finite: bool = True

    def problem(self, value: Any) -> str | None:
        """Why `value` is outside the range (None when it is inside; non-numbers are not checked)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number" if self.finite else None
        if self.min is not None and value < self.min:
            return f"must be >= {self.min:g}"
        if self.max is not None and value > self.max:
            return f"must be <= {self.max:g}"
        if self.gt is not None and value <= self.gt:
            return f"must be > {self.gt:g}"
        if self.lt is not None and value >= self.lt:
            return f"must be < {self.lt:g}"
        return None

    def text(self) -> str:
        """The range in words for help texts, e.g. ">= 0 and <= 1" ("" when unbounded)."""
        parts = [f"{w} {b:g}" for b, w in ((self.min, ">="), (self.gt, ">"), (self.max, "<="), (self.lt, "<"))
                 if b is not None]
        return " and ".join(parts)


def range_of(f: dataclasses.Field) -> Range:
    return f.metadata.get("range", Range())


def check_value(name: str, value: Any, rng: Range, tp: Any = None) -> None:
    """Raise DataError `name <value> <problem>` when `value` is outside `rng` or not of number type `tp`
    (int or float; a list field's items are checked one by one)."""
    if value is None:
        return
    items = value if isinstance(value, list | tuple) else [value]
    item_tp = tp
    if typing.get_origin(tp) in (list, tuple):
        args = typing.get_args(tp)
        item_tp = args[0] if args else None
    for item in items:
        if item_tp is int and (isinstance(item, bool) or not isinstance(item, int)):
            if not (isinstance(item, float) and item.is_integer()):
                raise DataError(f"{name} must be an integer, got {item!r}")
        elif item_tp is float and (isinstance(item, bool) or not isinstance(item, int | float)):
            raise DataError(f"{name} must be a number, got {item!r}")
        problem = rng.problem(item)
        if problem:
            raise DataError(f"{name} {problem}, got {item!r}")


def number(tp: type, **bounds: Any) -> typing.Callable[[str], Any]:
    """An argparse `type=` for a number in a range (the keys of `Range`): out-of-range or nan values end
    in argparse's one-line usage error, with the same message as a config key's."""
    rng = Range(**bounds)

    def parse(text: str) -> Any:
        try:
            value = tp(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {tp.__name__} value: {text!r}") from None
        problem = rng.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(f"{problem}, got {text}")
        return value

    parse.__name__ = tp.__name__  # argparse names the type in its messages
    return parse


def check_config(config: Any, flags: bool = False, prefix: str = "") -> None:
    """Check every field of a (nested) config against its range and number type; the error names the field
    as a flag (`--name`, with `flags`) or as a key (`section.name`)."""
    types_ = _field_types(type(config))
    for f in dataclasses.fields(config):
        value, tp = getattr(config, f.name), types_[f.name]
        if dataclasses.is_dataclass(value):
            check_config(value, flags, f"{prefix}{f.name}.")
            continue
        base = typing.get_origin(tp) or tp
        if base not in (int, float, list, tuple):
            continue
        check_value(f"--{f.name}" if flags else f"{prefix}{f.name}", value, range_of(f), tp)


def is_deviation(f: dataclasses.Field) -> bool:
    return f.metadata.get("original", _UNSET) is not _UNSET


def default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise TypeError(f"config field {f.name} has no default")


def help_text(f: dataclasses.Field) -> str:
    """The field's help; for a deviation it also says whether the default is the original and why not."""
    what, default = f.metadata.get("help", ""), default_of(f)
    if not is_deviation(f):
        return what
    original = f.metadata["original"]
    if default == original:
        return f"{what} Default {default!r}: the original behaviour."
    return (
        f"{what} Default {default!r}, NOT the original ({original!r}): {f.metadata['why']} "
        "--original_behaviour sets it back."
    )


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _field_types(cls: type) -> dict[str, Any]:
    return {k: _strip_optional(v) for k, v in typing.get_type_hints(cls).items()}


def _argparse_kwargs(f: dataclasses.Field, tp: Any) -> dict[str, Any]:
    kw: dict[str, Any] = {"help": help_text(f)}
    default = None if is_deviation(f) else default_of(f)
    origin = typing.get_origin(tp)
    if tp is bool:  # a deviation (default None) or a True default needs the --no- form
        kw["action"] = "store_true" if default is False else argparse.BooleanOptionalAction
        kw["default"] = default
    elif origin is typing.Literal:
        choices = typing.get_args(tp)
        kw.update(choices=choices, type=type(choices[0]), default=default)
    elif origin in (list, tuple):
        item = typing.get_args(tp)[0] if typing.get_args(tp) else str
        kw.update(nargs="+", type=item, default=default)
    elif tp in (int, float):
        rng = range_of(f)
        kw.update(type=number(tp, **dataclasses.asdict(rng)), default=default)
        if rng.text():
            kw["help"] = f"{kw['help']} ({rng.text()})".strip()
    elif tp is str:
        kw.update(type=tp, default=default)
    else:
        kw["default"] = default
    kw.update(f.metadata.get("argparse", {}))
    return kw


def add_arguments(
    parser: argparse.ArgumentParser,
    cls: type,
    groups: dict[str, argparse._ArgumentGroup] | None = None,
    skip: Iterable[str] = (),
) -> dict[str, argparse._ArgumentGroup]:
    """Add one `--name` flag per command-line field of dataclass `cls`; returns the groups (by title)."""
    groups = {} if groups is None else groups
    types_, skip = _field_types(cls), set(skip)
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True) or f.name in skip or dataclasses.is_dataclass(types_[f.name]):
            continue
        title = f.metadata.get("group", "")
        target = parser
        if title:
            if title not in groups:
                groups[title] = parser.add_argument_group(title)
            target = groups[title]
        kwargs = _argparse_kwargs(f, types_[f.name])
        if f.metadata.get("positional", False):
            kwargs.pop("required", None)
            target.add_argument(f.name, **kwargs)
            continue
        flags = (*(f.metadata.get("flags") or (f"--{f.name}",)), *f.metadata.get("aliases", ()))
        target.add_argument(*flags, dest=f.name, **{k: v for k, v in kwargs.items() if k != "dest"})
    return groups


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description as written (its example command lines), and each flag's default after its help
    unless the help names it already, the flag is required, or the default is None/False/empty."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or "default" in text.lower() or action.required
                or default in (None, False, "", [], argparse.SUPPRESS) or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


def typed_parser(description: str | None, *classes: type, titles: Iterable[str] = (),
                 formatter_class: type = HelpFormatter, **parser_kwargs: Any) -> argparse.ArgumentParser:
    """A script's parser: one flag per command-line field of each config dataclass in `classes` (in
    their order), the groups named in `titles` first (in that order); `parser_kwargs` go to
    `argparse.ArgumentParser` (epilog ...)."""
    p = argparse.ArgumentParser(description=description, formatter_class=formatter_class, **parser_kwargs)
    groups = {t: p.add_argument_group(t) for t in titles}
    for cls in classes:
        add_arguments(p, cls, groups)
    return p


def parse_config(cls: type, argv: list[str] | None, description: str | None):
    """The config of a script whose command line is exactly the fields of `cls` (see `typed_parser`)."""
    return from_namespace(cls, typed_parser(description, cls).parse_args(argv))


def add_original_switch(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """`--original_behaviour`: every deviation field of the script back to the original code's value."""
    parser.add_argument(
        "--original_behaviour",
        action="store_true",
        help="set every deviation back to the original code's behaviour at once (a flag given explicitly "
        "still wins)",
    )


def deviation_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if is_deviation(f)]


def resolve_deviations(args: argparse.Namespace, *classes: type) -> argparse.Namespace:
    """Fill each deviation flag left at None: the default, or with `--original_behaviour` the original."""
    original = bool(getattr(args, "original_behaviour", False))
    for cls in classes:
        for f in deviation_fields(cls):
            if getattr(args, f.name, None) is None:
                setattr(args, f.name, f.metadata["original"] if original else default_of(f))
    return args


def from_namespace(cls: type, args: argparse.Namespace, **extra: Any):
    """An instance of `cls` from parsed arguments (deviations resolved); `extra` sets other fields."""
    resolve_deviations(args, cls)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    values.update(extra)
    config = cls(**values)
    check_config(config, flags=True)
    return config


def cli_values(config: Any) -> dict[str, Any]:
    """{flag name: value} of a config's command-line fields (what its flags would be set to)."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
            if f.metadata.get("cli", True) and not dataclasses.is_dataclass(getattr(config, f.name))}


def _unknown_key(key: str, known: Iterable[str], what: str) -> DataError:
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], list(known), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return DataError(f"{what}: unknown config key {key}{hint}")


def from_mapping(cls: type, data: Mapping | None, what: str = "config", prefix: str = ""):
    """An instance of (nested) dataclass `cls` from a mapping; a key no field declares, or a value outside a
    `Literal[...]` field's choices, or outside a number field's range, raises DataError."""
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        where = prefix.rstrip(".") or "the config"
        raise DataError(f"{what}: {where} must be a mapping, got {data!r}")
    fields, types_ = {f.name: f for f in dataclasses.fields(cls)}, _field_types(cls)
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in data.items():
        if key not in fields:
            raise _unknown_key(f"{prefix}{key}", fields, what)
        tp = types_[key]
        if dataclasses.is_dataclass(tp):  # a section: a mapping (or null for its defaults)
            value = from_mapping(tp, value, what, f"{prefix}{key}.")
        elif typing.get_origin(tp) is typing.Literal:
            choices = typing.get_args(tp)
            optional = type(None) in typing.get_args(hints[key])
            if value not in choices and not (value is None and optional):
                raise DataError(f"{what}: {prefix}{key} must be one of {list(choices)}, got {value!r}")
        else:
            if tp in (int, float) and isinstance(value, str):  # YAML 1.1 reads 1e-4 as a string
                try:
                    value = float(value)
                except ValueError:
                    pass
            check_value(f"{what}: {prefix}{key}", value, range_of(fields[key]), tp)
            if tp is int and isinstance(value, float):
                value = int(value)
        values[key] = value
    return cls(**values)


def to_dict(config: Any) -> dict:
    """A plain nested dict of a config (for YAML/JSON output and checkpoints)."""
    return dataclasses.asdict(config)


def apply_override(data: dict, item: str, what: str = "--set") -> None:
    """Apply one `key.sub=value` override (the value parsed as YAML) to a nested dict in place."""
    if "=" not in item:
        raise DataError(f"{what} {item!r}: expected KEY=VALUE, e.g. train.lr=1e-4")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise DataError(f"{what} {item!r}: the value is not valid YAML ({e})") from None
    if isinstance(value, str):  # numbers YAML 1.1 leaves as strings, e.g. 1e-3
        try:
            value = float(value)
        except ValueError:
            pass
    node = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise DataError(f"{what} {item!r}: {part} is a value, not a section")
        node = child
    node[parts[-1]] = value


def load_yaml(path: str | Path) -> dict:
    """A YAML mapping from `path`, with one-line errors naming the file."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise DataError(f"config {p} is not valid YAML: {getattr(e, 'problem', e)}{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DataError(f"config {p} must be a mapping")
    return data
