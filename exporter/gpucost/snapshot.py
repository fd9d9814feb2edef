"""Snapshot files as a source: `kubectl get ... -o json|yaml` Lists or multi-document manifests.

A file that cannot be read or parsed at all is an error naming the file (the CLI exits 2). A
single object that does not decode is left out, counted and logged, and the rest load.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import msgspec
import yaml

from .objects import KINDS, TypeMeta

log = logging.getLogger("gpucost.snapshot")

# libyaml's loader is ~10x faster on large dumps; pure Python works too.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _YamlLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loading, but timestamps stay strings, as the API sends them."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    }


class SnapshotError(ValueError):
    """A file that cannot be used at all; the message names it."""


class _JsonDoc(msgspec.Struct):
    kind: str = ""
    items: list[msgspec.Raw] | None = None


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
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read: {exc.strerror}") from None
    stripped = data.lstrip()
    if stripped[:1] in (b"{", b"["):
        try:
            doc = msgspec.json.decode(data, type=Union[_JsonDoc, list[msgspec.Raw]])
        except msgspec.DecodeError as exc:
            raise SnapshotError(f"{path}: invalid JSON: {exc}") from None
        raws = doc if isinstance(doc, list) else (doc.items if doc.items is not None else [msgspec.Raw(data)])
        for i, raw in enumerate(raws):
            _add_json(path, i, raw, snap)
        return
    try:
        docs = list(yaml.load_all(data, Loader=_YamlLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise SnapshotError(f"{path}{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    index = 0
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise SnapshotError(f"{path}: document {index}: expected a Kubernetes object, got {type(doc).__name__}")
        for obj in _items(doc):
            _add_python(path, index, obj, snap)
            index += 1


def _items(doc: dict[str, Any]) -> Iterator[Any]:
    if isinstance(doc.get("items"), list) and str(doc.get("kind", "")).endswith("List"):
        yield from doc["items"]
    else:
        yield doc


def _where(path: Path, index: int, obj_name: str) -> str:
    return f"{path}: item {index}" + (f" ({obj_name})" if obj_name else "")


def _add_json(path: Path, index: int, raw: msgspec.Raw, snap: Snapshot) -> None:
    try:
        meta = msgspec.json.decode(raw, type=TypeMeta)
    except msgspec.DecodeError as exc:
        snap.broken.append(("", f"{path}#{index}", f"{_where(path, index, '')}: {exc}"))
        return
    struct = KINDS.get(meta.kind)
    if struct is None:
        snap.ignored_kinds[meta.kind] = snap.ignored_kinds.get(meta.kind, 0) + 1
        return
    try:
        snap.objects[meta.kind].append(msgspec.json.decode(raw, type=struct))
    except msgspec.DecodeError as exc:
        name = _name_of(msgspec.json.decode(raw))
        snap.broken.append((meta.kind, f"{path}#{index}", f"{_where(path, index, f'{meta.kind} {name}')}: {exc}"))


def _add_python(path: Path, index: int, obj: Any, snap: Snapshot) -> None:
    kind = obj.get("kind", "") if isinstance(obj, dict) else ""
    struct = KINDS.get(kind)
    if struct is None:
        snap.ignored_kinds[str(kind)] = snap.ignored_kinds.get(str(kind), 0) + 1
        return
    try:
        snap.objects[kind].append(msgspec.convert(obj, struct, strict=False))
    except msgspec.ValidationError as exc:
        snap.broken.append((kind, f"{path}#{index}", f"{_where(path, index, f'{kind} {_name_of(obj)}')}: {exc}"))


def _name_of(obj: Any) -> str:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return ""
    name = str(meta.get("name", ""))
    return f"{meta['namespace']}/{name}" if meta.get("namespace") else name
