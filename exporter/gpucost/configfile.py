"""Strict YAML config files: every mapping remembers its keys' lines, so validation errors
read `pricing.yaml:7: default.gpu_hour: must be a finite number >= 0, got -3`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from .guard import MAX_CONFIG_BYTES, GuardedLoader, brief, read_limited, to_text, yaml_message


class ConfigError(ValueError):
    """An invalid config file; the message names the file, line and key."""


class Located(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers the line of each key (1-based)."""

    line: int
    key_lines: dict[Any, int]


class _Loader(GuardedLoader, yaml.SafeLoader):
    """Safe loading within the limits of `gpucost.guard` (depth, aliases, scalars)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    loader.flatten_mapping(node)
    out = Located()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
        if not isinstance(key, (str, int, float, bool)) or key is None:
            raise yaml.constructor.ConstructorError(
                None, None, "mapping keys must be scalars", key_node.start_mark
            )
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {brief(key)}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)  # type: ignore[no-untyped-call]
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_file(path: str | Path, what: str, error: type[ConfigError] = ConfigError) -> str:
    """The text of a config file (UTF-8, or UTF-16/32 with a byte-order mark; at most
    `gpucost.guard.MAX_CONFIG_BYTES`); anything else is an error naming the file."""
    return to_text(read_limited(path, what, error, MAX_CONFIG_BYTES), str(path), error)


def load_document(text: str, filename: str, error: type[ConfigError] = ConfigError) -> Any:
    """Parse one YAML document (safe loading; duplicate keys rejected; the limits of
    `gpucost.guard`); mappings are Located. Every failure is `error` naming file and line."""
    if len(text) > MAX_CONFIG_BYTES:
        raise error(f"{filename}: larger than the {MAX_CONFIG_BYTES >> 20} MiB limit; see docs/input-limits.md")
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, RecursionError) as exc:
        raise error(yaml_message(exc, filename)) from None


def one_line(text: str) -> str:
    """A message on one line: newlines and other unprintable characters (from keys or values
    in the file) written as escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def describe(value: Any) -> str:
    """What kind of YAML value this is, for messages."""
    if value is None:
        return "null"
    if isinstance(value, Located):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def shown(value: Any) -> str:
    """`a list ['lol', 'lol', ...]`: what a value is and a bounded glimpse of it."""
    return f"{describe(value)} {brief(value)}"


#: The largest number a config file may hold (prices, weights): large enough for any price in
#: any currency, small enough that a price times any Kubernetes capacity (< 2^63 units) stays
#: a finite float, so no series is ever +Inf.
MAX_NUMBER = 1e15
#: Characters of a key path shown in a message.
MAX_KEY_SHOWN = 80


class Reader:
    """Validates one document; `error` is the ConfigError subclass to raise."""

    def __init__(self, filename: str, error: type[ConfigError] = ConfigError) -> None:
        self.filename = filename
        self.error = error

    def fail(self, line: int, key: str, message: str) -> ConfigError:
        """`file:line: key: message`; the key "" is the document itself, named "document root".
        A key longer than a line is cut: keys come from the file and may be anything."""
        if len(key) > 2 * MAX_KEY_SHOWN:
            key = key[:MAX_KEY_SHOWN] + "..."
        return self.error(one_line(f"{self.filename}:{line}: {key or 'document root'}: {message}"))

    def mapping(self, value: Any, line: int, key: str, allowed: tuple[str, ...] | None) -> Located:
        if not isinstance(value, Located):
            raise self.fail(line, key, f"expected a mapping, got {describe(value)}")
        if allowed is not None:
            for k in value:
                if k not in allowed:
                    where = f"{key}.{k}" if key else str(k)
                    raise self.fail(
                        value.key_lines[k], where, f"unknown key (allowed: {', '.join(allowed)})"
                    )
        return value

    def number(self, m: Located, k: str, prefix: str) -> float:
        """A finite number >= 0 (prices, weights)."""
        v = m[k]
        where = f"{prefix}{k}"
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.fail(m.key_lines[k], where, f"expected a number, got {shown(v)}")
        if (isinstance(v, float) and not math.isfinite(v)) or v < 0:
            raise self.fail(m.key_lines[k], where, f"must be a finite number >= 0, got {brief(v)}")
        if v > MAX_NUMBER:  # compared, not converted: float(10**400) raises OverflowError
            raise self.fail(m.key_lines[k], where, f"must be at most {MAX_NUMBER:g}, got {brief(v)}")
        return float(v)

    def string(self, m: Located, k: str, prefix: str) -> str:
        v = m[k]
        if not isinstance(v, str) or not v:
            raise self.fail(m.key_lines[k], f"{prefix}{k}", f"expected a non-empty string, got {shown(v)}")
        return v

    def boolean(self, m: Located, k: str, prefix: str) -> bool:
        v = m[k]
        if not isinstance(v, bool):
            raise self.fail(m.key_lines[k], f"{prefix}{k}", f"expected true or false, got {shown(v)}")
        return v

    def number_table(self, m: Located, k: str) -> dict[str, float]:
        table = self.mapping(m[k], m.key_lines[k], k, None)
        out = {}
        for name in table:
            if not isinstance(name, str):
                raise self.fail(table.key_lines[name], f"{k}.{name}", "keys must be strings")
            out[name] = self.number(table, name, f"{k}.")
        return out
