"""A Detectron2/yacs-compatible configuration node: attribute access, YAML files with ``_BASE_``
inheritance, ``KEY VALUE`` overrides with type checking, freezing and dumping."""

from __future__ import annotations

import copy
import os
from ast import literal_eval
from typing import Any

import yaml

BASE_KEY = "_BASE_"
_VALID_TYPES = (tuple, list, str, int, float, bool, type(None))


class CfgNode(dict):
    """Nested config dict with attribute access. Unknown keys are rejected when merging."""

    IMMUTABLE = "__immutable__"

    def __init__(self, init_dict: dict | None = None):
        super().__init__()
        object.__setattr__(self, CfgNode.IMMUTABLE, False)
        for k, v in (init_dict or {}).items():
            self[k] = CfgNode(v) if isinstance(v, dict) and not isinstance(v, CfgNode) else v

    # --- attribute access -------------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e

    def __setattr__(self, name: str, value: Any) -> None:
        if self.is_frozen():
            raise AttributeError(f"Attempted to set {name} to {value!r}, but the CfgNode is immutable")
        if isinstance(value, dict) and not isinstance(value, CfgNode):
            value = CfgNode(value)
        self[name] = value

    def __deepcopy__(self, memo):
        out = CfgNode({k: copy.deepcopy(v, memo) for k, v in self.items()})
        if self.is_frozen():
            out.freeze()
        return out

    def __reduce__(self):
        return (_rebuild, (self.to_dict(), self.is_frozen()))

    # --- freezing ---------------------------------------------------------------------------------------
    def _set_immutable(self, flag: bool) -> None:
        object.__setattr__(self, CfgNode.IMMUTABLE, flag)
        for v in self.values():
            if isinstance(v, CfgNode):
                v._set_immutable(flag)

    def freeze(self) -> None:
        self._set_immutable(True)

    def defrost(self) -> None:
        self._set_immutable(False)

    def is_frozen(self) -> bool:
        return object.__getattribute__(self, CfgNode.IMMUTABLE)

    def clone(self) -> CfgNode:
        return copy.deepcopy(self)

    # --- conversion -------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {k: v.to_dict() if isinstance(v, CfgNode) else v for k, v in self.items()}

    def dump(self, **kwargs) -> str:
        """YAML text of the config (tuples written as lists, like Detectron2's dump)."""

        def plain(v):
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [plain(x) for x in v]
            return v

        return yaml.safe_dump(plain(self.to_dict()), sort_keys=False, **kwargs)

    # --- merging ----------------------------------------------------------------------------------------
    @staticmethod
    def load_yaml_with_base(filename: str) -> dict:
        """Load a YAML file, recursively merging the file named by ``_BASE_`` (relative to this file)."""
        filename = os.fspath(filename)
        if not os.path.isfile(filename):
            raise FileNotFoundError(f"Config file not found: {filename}")
        with open(filename, encoding="utf-8") as f:
            cfg = yaml.safe_load(f) or {}
        if not isinstance(cfg, dict):
            raise ValueError(f"Config file {filename} must contain a YAML mapping at the top level")
        base = cfg.pop(BASE_KEY, None)
        if base is None:
            return cfg
        base = os.path.expanduser(base)
        if not os.path.isabs(base):
            base = os.path.join(os.path.dirname(os.path.abspath(filename)), base)
        merged = CfgNode.load_yaml_with_base(base)
        _merge_plain_dicts(cfg, merged)
        return merged

    def merge_from_file(self, cfg_filename: str) -> None:
        """Merge a YAML file (with ``_BASE_`` inheritance) into this node; unknown keys raise KeyError."""
        loaded = self.load_yaml_with_base(cfg_filename)
        self.merge_from_other_cfg(CfgNode(loaded))

    def merge_from_other_cfg(self, other: dict) -> None:
        _merge_a_into_b(other, self, root=self, key_list=[])

    def merge_from_list(self, cfg_list: list) -> None:
        """Merge ``[KEY1, VALUE1, KEY2, VALUE2, ...]`` (values parsed as Python literals when possible)."""
        if len(cfg_list) % 2 != 0:
            raise ValueError(f"Override list has odd length {len(cfg_list)}: {cfg_list}")
        if self.is_frozen():
            raise AttributeError("Cannot merge into a frozen CfgNode")
        for full_key, v in zip(cfg_list[0::2], cfg_list[1::2]):
            key_list = full_key.split(".")
            d = self
            for sub in key_list[:-1]:
                if sub not in d or not isinstance(d[sub], CfgNode):
                    raise KeyError(f"Non-existent config key: {full_key}")
                d = d[sub]
            sub = key_list[-1]
            if sub not in d:
                raise KeyError(f"Non-existent config key: {full_key}")
            value = _decode_value(v)
            d[sub] = _check_and_coerce(value, d[sub], sub, full_key)


def _rebuild(d: dict, frozen: bool) -> CfgNode:
    out = CfgNode(d)
    if frozen:
        out.freeze()
    return out


def _merge_plain_dicts(src: dict, dst: dict) -> None:
    """Recursively merge plain dict ``src`` into ``dst`` (values of src win)."""
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge_plain_dicts(v, dst[k])
        else:
            dst[k] = v


def _decode_value(value: Any) -> Any:
    """Strings holding Python literals become the literal (``"(1, 2)"`` -> tuple); others stay strings."""
    if isinstance(value, dict):
        return CfgNode(value)
    if not isinstance(value, str):
        return value
    try:
        return literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def _check_and_coerce(replacement: Any, original: Any, key: str, full_key: str) -> Any:
    """yacs type rule: same type, None <-> any valid type, tuple <-> list; additionally int -> float."""
    r_type, o_type = type(replacement), type(original)
    if r_type is o_type:
        return replacement
    if replacement is None or original is None:
        if r_type in _VALID_TYPES and o_type in _VALID_TYPES:
            return replacement
    if o_type in (tuple, list) and r_type in (tuple, list):
        return _like(replacement, original)
    if o_type is float and r_type is int:
        return float(replacement)
    raise ValueError(
        f"Type mismatch ({o_type} vs. {r_type}) with values ({original!r} vs. {replacement!r}) "
        f"for config key: {full_key}"
    )


def _like(value, original):
    """Convert a list/tuple to the container type of ``original``, recursing into nested sequences
    (so a dumped ``[[10, 10, 5, 5], ...]`` becomes the default's tuple of tuples again)."""
    inner = original[0] if len(original) else None
    if isinstance(inner, (tuple, list)):
        value = [_like(v, inner) if isinstance(v, (tuple, list)) else v for v in value]
    return type(original)(value)


def _merge_a_into_b(a: dict, b: CfgNode, root: CfgNode, key_list: list) -> None:
    if b.is_frozen():
        raise AttributeError("Cannot merge into a frozen CfgNode")
    for k, v_raw in a.items():
        full_key = ".".join(key_list + [k])
        if k not in b:
            if k in ("VERSION",):
                continue
            raise KeyError(f"Non-existent config key: {full_key}")
        v = copy.deepcopy(v_raw)
        v = _decode_value(v) if not isinstance(v, CfgNode) else v
        if isinstance(b[k], CfgNode):
            if not isinstance(v, dict):
                raise ValueError(f"Config key {full_key} is a group; got value {v!r}")
            _merge_a_into_b(v, b[k], root, key_list + [k])
        else:
            b[k] = _check_and_coerce(v, b[k], k, full_key)
