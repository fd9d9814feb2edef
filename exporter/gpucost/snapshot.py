"""Snapshot files as a source: `kubectl get ... -o json|yaml` Lists or multi-document manifests.

A file that cannot be read or parsed, or that holds no Kubernetes object (empty, a top-level
array or scalar, a mapping without `kind`), is an error naming the file (the CLI exits 2), as
is one past the limits of `gpucost.guard` (size, encoding, nesting, YAML aliases). A single
object that does not decode, has no kind or no metadata.name is left out, counted and logged,
and the rest load.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import yaml

from .guard import (
    MAX_CLUSTER_BYTES,
    MAX_CLUSTER_DEPTH,
    MAX_CLUSTER_YAML_BYTES,
    GuardedLoader,
    MiB,
    brief,
    read_limited,
    to_utf8,
    yaml_message,
)
from .objects import KINDS, TypeMeta

log = logging.getLogger("gpucost.snapshot")

# libyaml's loader is ~10x faster on large dumps; pure Python works too.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _YamlLoader(GuardedLoader, _BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loading within the limits of `gpucost.guard`; timestamps stay strings, as the API
    sends them."""

    max_depth = MAX_CLUSTER_DEPTH

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    }


class SnapshotError(ValueError):
    """A file that cannot be used at all; the message names it."""


class _JsonDoc(msgspec.Struct):
    kind: str = ""
    items: list[msgspec.Raw] | None = None


class _Identity(msgspec.Struct):
    """What can be read of a broken object's name, whatever else it holds."""

    metadata: Any = None


#: Characters of a broken object's name shown in a message (Kubernetes names are <= 253).
_NAME_SHOWN = 253

#: What a file must hold, for messages.
_EXPECTED = "expected a Kubernetes List or objects, as `kubectl get ... -o json|yaml` writes them"


@dataclass
class Snapshot:
    """Objects by wire kind, plus the ones that could not be decoded."""

    objects: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in KINDS})
    #: (kind, key, message) for objects left out
    broken: list[tuple[str, str, str]] = field(default_factory=list)
    ignored_kinds: dict[str, int] = field(default_factory=dict)


def load_snapshot(paths: list[str]) -> Snapshot:
    snap = Snapshot()
    for path in paths:
        _load_file(Path(path), snap)
    return snap


def _load_file(path: Path, snap: Snapshot) -> None:
    data = to_utf8(read_limited(path, "cluster file", SnapshotError, MAX_CLUSTER_BYTES), str(path), SnapshotError)
    stripped = data.lstrip()
    if not stripped:
        raise SnapshotError(f"{path}: empty file; {_EXPECTED}")
    if stripped[:1] == b"[":
        raise SnapshotError(f"{path}: a JSON array; {_EXPECTED}")
    if stripped[:1] == b"{":
        _load_json(path, data, snap)
    else:
        _load_yaml(path, data, snap)


def _load_json(path: Path, data: bytes, snap: Snapshot) -> None:
    try:
        doc = msgspec.json.decode(data, type=_JsonDoc)
    except msgspec.ValidationError as exc:
        raise SnapshotError(f"{path}: not a Kubernetes object: {exc}") from None
    except msgspec.DecodeError as exc:
        raise SnapshotError(f"{path}: invalid JSON: {exc}") from None
    except RecursionError:  # msgspec's guard: deeper than Python's recursion limit
        raise SnapshotError(f"{path}: invalid JSON: nested too deeply to read") from None
    _check_top(path, "", doc.kind, doc.items is not None)
    raws = doc.items if _is_list(doc.kind) and doc.items is not None else [msgspec.Raw(data)]
    for i, raw in enumerate(raws):
        _add_json(path, i, raw, snap)


def _load_yaml(path: Path, data: bytes, snap: Snapshot) -> None:
    if len(data) > MAX_CLUSTER_YAML_BYTES:
        raise SnapshotError(f"{path}: a YAML cluster file larger than the {MAX_CLUSTER_YAML_BYTES // MiB} MiB "
                            "limit; write it as JSON (-o json) or see docs/input-limits.md")
    try:
        docs = list(yaml.load_all(data, Loader=_YamlLoader))
    except (yaml.YAMLError, RecursionError) as exc:
        raise SnapshotError(yaml_message(exc, str(path))) from None
    index = 0
    documents = 0
    for number, doc in enumerate(docs):
        if doc is None:
            continue
        documents += 1
        where = f" document {number + 1}:" if len(docs) > 1 else ""
        if not isinstance(doc, dict):
            raise SnapshotError(f"{path}:{where} {_describe(doc)}; {_EXPECTED}")
        kind = doc.get("kind")
        if kind is not None and not isinstance(kind, str):
            raise SnapshotError(f"{path}:{where} kind is {_describe(kind)}, not a string; {_EXPECTED}")
        _check_top(path, where, kind or "", isinstance(doc.get("items"), list))
        for obj in _items(doc):
            _add_python(path, index, obj, snap)
            index += 1
    if not documents:
        raise SnapshotError(f"{path}: no YAML document; {_EXPECTED}")


def _is_list(kind: str) -> bool:
    return kind.endswith("List")


def _check_top(path: Path, where: str, kind: str, has_items: bool) -> None:
    """A top-level document is a List with an items array, or one object with a kind."""
    if not kind:
        raise SnapshotError(f"{path}:{where} a mapping without kind; {_EXPECTED}")
    if _is_list(kind) and not has_items:
        raise SnapshotError(f"{path}:{where} a {kind} without an items array; {_EXPECTED}")


def _describe(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} ({brief(str(value)[:40])})"


def _items(doc: dict[str, Any]) -> Iterator[Any]:
    if _is_list(str(doc.get("kind", ""))):
        yield from doc["items"]
    else:
        yield doc


def _where(path: Path, index: int, obj_name: str) -> str:
    return f"{path}: item {index}" + (f" ({obj_name})" if obj_name else "")


def _add_json(path: Path, index: int, raw: msgspec.Raw, snap: Snapshot) -> None:
    try:
        meta = msgspec.json.decode(raw, type=TypeMeta)
    except (msgspec.DecodeError, RecursionError) as exc:
        snap.broken.append(("", f"{path}#{index}", f"{_where(path, index, _json_name(raw))}: {_problem(exc)}"))
        return
    if not meta.kind:
        snap.broken.append(("", f"{path}#{index}", f"{_where(path, index, _json_name(raw))}: no kind"))
        return
    struct = KINDS.get(meta.kind)
    if struct is None:
        snap.ignored_kinds[meta.kind] = snap.ignored_kinds.get(meta.kind, 0) + 1
        return
    try:
        obj = msgspec.json.decode(raw, type=struct)
    except (msgspec.DecodeError, RecursionError) as exc:
        name = f"{meta.kind} {_json_name(raw)}"
        snap.broken.append((meta.kind, f"{path}#{index}", f"{_where(path, index, name)}: {_problem(exc)}"))
        return
    _add_named(path, index, meta.kind, obj, snap)


def _problem(exc: BaseException) -> str:
    return "nested too deeply to read" if isinstance(exc, RecursionError) else str(exc)


def _json_name(raw: msgspec.Raw) -> str:
    """The name of an object that did not decode, if its metadata can be read at all (the
    rest of it may be anything: numbers out of range, invalid UTF-8, deep nesting)."""
    try:
        meta = msgspec.json.decode(raw, type=_Identity).metadata
    except (msgspec.MsgspecError, RecursionError):
        return ""
    return _name_of({"metadata": meta})


def _add_python(path: Path, index: int, obj: Any, snap: Snapshot) -> None:
    if not isinstance(obj, dict):
        snap.broken.append(("", f"{path}#{index}", f"{_where(path, index, '')}: {_describe(obj)}, not an object"))
        return
    kind = obj.get("kind")
    if not kind or not isinstance(kind, str):
        problem = "no kind" if not kind else f"kind is {_describe(kind)}, not a string"
        snap.broken.append(("", f"{path}#{index}", f"{_where(path, index, _name_of(obj))}: {problem}"))
        return
    struct = KINDS.get(kind)
    if struct is None:
        snap.ignored_kinds[kind] = snap.ignored_kinds.get(kind, 0) + 1
        return
    try:
        decoded = msgspec.convert(obj, struct, strict=False)
    except (msgspec.ValidationError, RecursionError) as exc:
        snap.broken.append((kind, f"{path}#{index}", f"{_where(path, index, f'{kind} {_name_of(obj)}')}: {exc}"))
        return
    _add_named(path, index, kind, decoded, snap)


def _add_named(path: Path, index: int, kind: str, obj: Any, snap: Snapshot) -> None:
    """Keep a decoded object that has a name; objects are keyed by it (nodes, namespaces) or
    named by it in every series, so a nameless one is left out like an undecodable one."""
    if not obj.metadata.name:
        snap.broken.append((kind, f"{path}#{index}", f"{_where(path, index, kind)}: no metadata.name"))
        return
    snap.objects[kind].append(obj)


def _name_of(obj: Any) -> str:
    """`namespace/name` for messages, bounded: a name may be anything a broken file holds."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return ""
    name, namespace = meta.get("name", ""), meta.get("namespace")
    name = name if isinstance(name, str) else brief(name)
    if namespace:
        return f"{namespace if isinstance(namespace, str) else brief(namespace)}/{name}"[:2 * _NAME_SHOWN]
    return name[:2 * _NAME_SHOWN]
