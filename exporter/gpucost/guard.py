"""The one guarded way in for input files: the pricing file, the web config, cluster files
(JSON and YAML) and, through `brief`, every message that quotes what it read.

What is refused, and where (docs/input-limits.md lists the same):

- size: a file over its limit is not read (`MAX_CONFIG_BYTES`, `MAX_CLUSTER_BYTES`,
  `MAX_CLUSTER_YAML_BYTES`);
- encoding: UTF-8, with or without a byte-order mark; UTF-16 and UTF-32 with a byte-order mark
  (what PowerShell's `>` writes) are converted; anything else names the line of the first bad byte;
- YAML nesting deeper than the loader's `max_depth` levels;
- YAML aliases that expand a document by more than `ALIAS_ALLOWANCE` nodes or by more than
  the document's own size in nodes, whichever is larger ("billion laughs"), and aliases that
  refer to the node that contains them;
- scalars Python cannot hold: an integer literal over Python's 4,300-digit limit, a date
  like 2024-13-45;
- quoted values: `brief` shows at most a few elements and ~60 characters of anything, so a
  message never formats an expanded value.

Each refusal is a `yaml.MarkedYAMLError` (so it carries the line) or the caller's own error
type, whose message names the file.
"""

from __future__ import annotations

import codecs
import os
import reprlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

MiB = 2**20
#: Pricing file and web config: a pricing file with a thousand node rules is ~100 KiB.
MAX_CONFIG_BYTES = 4 * MiB
#: Cluster files are read into memory whole; `kubectl get pods -A -o json` of 150,000 pods
#: is ~1.5 GiB.
MAX_CLUSTER_BYTES = 2048 * MiB
#: YAML costs ~10x its size in Python objects while it loads: keep YAML cluster files smaller.
MAX_CLUSTER_YAML_BYTES = 256 * MiB
#: Nesting levels: config files are a few levels deep; Kubernetes objects ~20 (managedFields).
MAX_CONFIG_DEPTH = 64
MAX_CLUSTER_DEPTH = 256
#: Nodes aliases may always add to a document (beyond that, at most the document's own size).
ALIAS_ALLOWANCE = 10_000
#: Characters of a quoted value in a message.
MAX_QUOTED = 60

ErrorType = Callable[[str], Exception]

_BOMS = (  # longest first: the UTF-32-LE mark begins with the UTF-16-LE one
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


class InputLimitError(yaml.MarkedYAMLError):
    """A YAML document past a limit of this module; `problem` says which, `problem_mark` where."""


def read_limited(path: str | Path, what: str, error: ErrorType, max_bytes: int) -> bytes:
    """A file's bytes, refusing one larger than `max_bytes` before reading it."""
    too_large = f"{path}: {what} larger than the {max_bytes // MiB} MiB limit; see docs/input-limits.md"
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes:
                raise error(too_large)
            if size:  # read(n) allocates n bytes first: ask for what the file holds (+1: it grew)
                data = f.read(size + 1)
            else:  # a pipe or /proc file: no size until read
                data = b"".join(iter(lambda: f.read(MiB), b""))[:max_bytes + 1]
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise error(too_large)
    return data


def encoding_of(start: bytes) -> str:
    """The codec for a file beginning with `start`: its byte-order mark's, else UTF-8."""
    return next((enc for bom, enc in _BOMS if start.startswith(bom)), "utf-8")


def to_text(data: bytes, filename: str, error: ErrorType) -> str:
    """Decode a file: UTF-8 (a byte-order mark is dropped), or UTF-16/32 with a byte-order mark."""
    encoding = encoding_of(data)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start:exc.start + 1].hex()
        hint = "" if encoding == "utf-8" else f" (its byte-order mark says {encoding.upper()})"
        raise error(f"{filename}:{line}: not valid {encoding.upper().replace('-SIG', '')}{hint}: "
                    f"byte 0x{bad} at offset {exc.start}; save the file as UTF-8") from None
    nul = text.find("\0")
    if nul >= 0:
        _nul_error(filename, text.count("\n", 0, nul) + 1, nul, error)
    return text


def _nul_error(filename: str, line: int, offset: int, error: ErrorType) -> None:
    raise error(f"{filename}:{line}: a NUL byte at offset {offset}: not a text file "
                "(UTF-16 without a byte-order mark?); save the file as UTF-8")


def to_utf8(data: bytes, filename: str, error: ErrorType) -> bytes:
    """UTF-8 bytes of a file; only a file with a UTF-16/32 byte-order mark is re-encoded (a
    large UTF-8 file is handed on as it is: its decoder checks the encoding object by object)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):]
    if any(data.startswith(bom) for bom, enc in _BOMS if enc != "utf-8-sig"):
        return to_text(data, filename, error).encode("utf-8")
    nul = data.find(b"\0", 0, 4096)  # the start tells a UTF-16 file; the rest is the decoder's
    if nul >= 0:
        _nul_error(filename, data.count(b"\n", 0, nul) + 1, nul, error)
    return data


class _Brief(reprlib.Repr):
    """reprlib, but dict and list subclasses (YAML mappings that remember lines) are shortened
    like dicts and lists instead of falling back to their full repr."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 2
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = 4
        self.maxstring = self.maxother = self.maxlong = MAX_QUOTED

    def repr1(self, x: Any, level: int) -> str:
        if isinstance(x, dict):
            return self.repr_dict(x, level)
        if isinstance(x, list):
            return self.repr_list(x, level)
        try:
            return super().repr1(x, level)
        except ValueError:  # an int past Python's digit limit
            return "<a number too long to print>"


_BRIEF = _Brief()


def brief(value: Any) -> str:
    """A value for a message: at most a few elements of two levels and ~60 characters each."""
    return _BRIEF.repr(value)


class GuardedLoader:
    """Mixin for a PyYAML loader (pure Python or libyaml's): nesting depth, alias expansion
    and unrepresentable scalars become `InputLimitError`s / `ConstructorError`s with a line."""

    max_depth = MAX_CONFIG_DEPTH
    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        # The pure-Python composer recurses per level: stop before Python's recursion limit.
        # (libyaml composes in C and stops at 1,000 levels itself; `_check` applies ours.)
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                mark = self.peek_event().start_mark  # type: ignore[attr-defined]
                raise InputLimitError(None, None, f"nested deeper than {self.max_depth} levels", mark)
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1

    def get_single_node(self) -> Any:
        node = super().get_single_node()  # type: ignore[misc]
        if node is not None:
            _check_graph(node, self.max_depth)
        return node

    def get_node(self) -> Any:
        node = super().get_node()  # type: ignore[misc]
        if node is not None:
            _check_graph(node, self.max_depth)
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)  # type: ignore[misc]
        except (ValueError, OverflowError) as exc:  # int("9" * 5000), date(2024, 13, 45)
            kind = node.tag.rsplit(":", 1)[-1]
            text = node.value if isinstance(node.value, str) else ""
            problem = (f"an integer of {len(text)} characters is too long to read" if kind == "int"
                       else f"cannot read {brief(text)} as a {kind}: {brief(str(exc))[1:-1]}")
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_graph(root: yaml.Node, max_depth: int) -> None:
    """Walk the composed document once (aliases are shared nodes, so this is linear in what
    was written) and compute, per node, the size and depth it has once aliases are expanded."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            on_path.discard(key)
            if depth[key] > max_depth:
                raise InputLimitError(None, None, f"nested deeper than {max_depth} levels "
                                      "(aliases included)", node.start_mark)
            continue
        if key in size:
            continue
        if key in on_path:
            raise InputLimitError(None, None, "an alias refers to a node that contains it", node.start_mark)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in size)
    written = len(size)
    if size[id(root)] - written > max(ALIAS_ALLOWANCE, written):
        raise InputLimitError(
            None, None,
            f"aliases expand this document from {written} to more than {written + max(ALIAS_ALLOWANCE, written)} "
            "nodes (a \"billion laughs\" document?)", root.start_mark,
        )


def yaml_message(exc: BaseException, filename: str) -> str:
    """`file:line: problem` for an error raised while loading YAML; line 0 when unknown."""
    if isinstance(exc, RecursionError):
        return f"{filename}: nested too deeply to read"
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow, or bad UTF-8
        char = exc.character
        shown = brief(chr(char)) if isinstance(char, int) and 0 <= char < 0x110000 else brief(char)
        return f"{filename}: invalid YAML: character {shown} at offset {exc.position}: {exc.reason}"
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else 0
    problem = getattr(exc, "problem", None) or str(exc)
    prefix = "" if isinstance(exc, InputLimitError) else "invalid YAML: "
    return " ".join(f"{filename}:{line}: {prefix}{problem}".split())  # one line, whatever the parser said
