"""Issue 15: fuzzing the pricing file, web config and cluster file parsers. Whatever the bytes,
each parser returns or raises its documented error (PricingError, WebConfigError,
SnapshotError); no example runs past the deadline, and none allocates more than
`MAX_EXAMPLE_BYTES` at its peak (tracemalloc).

Inputs are structured documents from the parsers' own vocabulary (so validation deep inside
is reached), the shipped example files with random byte mutations, re-encodings, and alias
bombs of random breadth and depth. The whole module runs in well under a minute."""

from __future__ import annotations

import json
import math
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpucost.pricing import PricingError
from gpucost.pricing_file import load_pricing, parse_pricing
from gpucost.snapshot import SnapshotError, load_snapshot
from gpucost.webconfig import WebConfigError, load_web_config, parse_web_config

REPO = Path(__file__).resolve().parents[1]
DEMO_PRICING = (REPO / "exporter/gpucost/demo/pricing.yaml").read_bytes()
WEB_EXAMPLE = (REPO / "examples/web-config.yml").read_bytes()
#: Peak bytes one example may allocate while parsing (inputs here are at most a few KiB).
MAX_EXAMPLE_BYTES = 64 * 2**20

FUZZ = settings(max_examples=120, deadline=3000, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@contextmanager
def bounded_memory() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
        assert peak < MAX_EXAMPLE_BYTES, f"parsing allocated {peak} bytes at its peak"
    finally:
        tracemalloc.stop()


def only(error: type[Exception], parse: Callable[[], Any]) -> None:
    """Run a parser: it may return or raise `error` with a one-line message, nothing else."""
    with bounded_memory():
        try:
            parse()
        except error as exc:
            message = str(exc)
            assert "\n" not in message and len(message) < 2000, message[:300]


# --- structured documents ------------------------------------------------------------------

NUMBERS = st.one_of(
    st.integers(), st.integers(min_value=10**300, max_value=10**1000), st.floats(allow_nan=True),
    st.just(-0.0), st.just(1e308),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=12), st.just("$2y$10$" + "a" * 53))
PRICING_KEYS = st.sampled_from([
    "currency", "default", "gpu_models", "instance_types", "builtin_catalog", "nodes", "labels", "budgets",
    "gpu_weights", "cpu_core_hour", "memory_gib_hour", "gpu_hour", "match", "name", "hourly", "discount",
    "amortize", "purchase", "years", "dimension", "value", "resource", "monthly", "team", "nvidia.com/gpu",
])
WEB_KEYS = st.sampled_from([
    "tls_server_config", "http_server_config", "basic_auth_users", "cert_file", "key_file", "client_auth_type",
    "client_ca_file", "min_version", "max_version", "headers", "http2", "X-Frame-Options", "prometheus",
])


def documents(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    node = st.recursive(
        SCALARS,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(keys | st.text(max_size=6), children, max_size=4),
        max_leaves=25,
    )
    return st.dictionaries(keys, node, max_size=6) | node


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, allow_unicode=True)


@FUZZ
@given(documents(PRICING_KEYS))
def test_structured_pricing_documents(doc: Any) -> None:
    only(PricingError, lambda: parse_pricing(dump(doc), "fuzz.yaml"))


@FUZZ
@given(documents(WEB_KEYS))
def test_structured_web_configs(doc: Any) -> None:
    only(WebConfigError, lambda: parse_web_config(dump(doc), "fuzz.yml"))


# --- mutated files and encodings ------------------------------------------------------------

MUTATION = st.tuples(st.sampled_from(["insert", "delete", "replace"]), st.floats(0, 1), st.binary(min_size=1, max_size=8))


def mutate(data: bytes, mutations: list[tuple[str, float, bytes]]) -> bytes:
    for op, where, chunk in mutations:
        i = int(where * len(data))
        if op == "insert":
            data = data[:i] + chunk + data[i:]
        elif op == "delete":
            data = data[:i] + data[i + len(chunk):]
        else:
            data = data[:i] + chunk + data[i + len(chunk):]
    return data


ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1"])


def encoded(data: bytes, encoding: str) -> bytes:
    return data.decode("utf-8", "replace").encode(encoding, "replace")


@FUZZ
@given(st.lists(MUTATION, max_size=6), ENCODINGS)
def test_mutated_pricing_files(tmp_path_factory: pytest.TempPathFactory, mutations: list[Any], encoding: str) -> None:
    path = tmp_path_factory.mktemp("p") / "pricing.yaml"
    path.write_bytes(mutate(encoded(DEMO_PRICING, encoding), mutations))
    only(PricingError, lambda: load_pricing(path))


@FUZZ
@given(st.lists(MUTATION, max_size=6), ENCODINGS)
def test_mutated_web_configs(tmp_path_factory: pytest.TempPathFactory, mutations: list[Any], encoding: str) -> None:
    path = tmp_path_factory.mktemp("w") / "web.yml"
    path.write_bytes(mutate(encoded(WEB_EXAMPLE, encoding), mutations))
    only(WebConfigError, lambda: load_web_config(path))


# --- cluster files --------------------------------------------------------------------------

QUANTITIES = st.one_of(
    st.sampled_from(["4", "500m", "64Gi", "-4", "1e3", "0.5", "", "1Qi", "9" * 5000, "1e999999999"]),
    NUMBERS, st.text(max_size=8),
)
NAMES = st.one_of(st.text(max_size=12), st.none(), st.integers(), st.lists(st.text(max_size=3), max_size=2))
KINDS = st.sampled_from(["Node", "Pod", "Namespace", "ReplicaSet", "Job", "ResourceSlice", "ResourceClaim",
                         "ConfigMap", "", "NodeList"]) | st.lists(st.text(max_size=3), max_size=2)


@st.composite
def kube_objects(draw: st.DrawFn) -> dict[str, Any]:
    obj: dict[str, Any] = {"kind": draw(KINDS)}
    if draw(st.booleans()):
        obj["metadata"] = draw(st.one_of(
            st.fixed_dictionaries({"name": NAMES}, optional={"namespace": NAMES, "uid": st.text(max_size=6)}),
            SCALARS,
        ))
    if draw(st.booleans()):
        obj["status"] = {"capacity": draw(st.dictionaries(st.sampled_from(["cpu", "memory", "nvidia.com/gpu"]),
                                                           QUANTITIES, max_size=3))}
    if draw(st.booleans()):
        obj["spec"] = {"nodeName": draw(NAMES), "containers": [
            {"resources": {"requests": draw(st.dictionaries(st.sampled_from(["cpu", "memory"]), QUANTITIES,
                                                            max_size=2))}}]}
    return obj


def as_json(doc: Any) -> bytes:
    # Python's json writes NaN, Infinity and 1e999-sized ints; msgspec must refuse them itself.
    return json.dumps(doc, allow_nan=True).encode()


@FUZZ
@given(st.lists(kube_objects(), max_size=5), st.sampled_from(["List", "NodeList", ""]), st.booleans(), ENCODINGS)
def test_cluster_files(
    tmp_path_factory: pytest.TempPathFactory, items: list[Any], kind: str, as_yaml: bool, encoding: str
) -> None:
    doc = {"kind": kind, "items": items} if kind else (items[0] if items else {})
    data = dump(doc).encode() if as_yaml else as_json(doc)
    path = tmp_path_factory.mktemp("c") / ("cluster.yaml" if as_yaml else "cluster.json")
    path.write_bytes(encoded(data, encoding) if encoding != "utf-8" else data)
    only(SnapshotError, lambda: load_snapshot([str(path)]))


#: The first objects of the demo cluster, as JSON and as YAML (cut mid-way: broken too).
_DEMO = json.loads((REPO / "exporter/gpucost/demo/cluster.json").read_bytes())
DEMO_CLUSTER = {False: as_json(_DEMO)[:12000], True: dump(_DEMO).encode()[:12000]}


@FUZZ
@given(st.lists(MUTATION, min_size=1, max_size=6), st.booleans())
def test_mutated_cluster_files(tmp_path_factory: pytest.TempPathFactory, mutations: list[Any], as_yaml: bool) -> None:
    data = DEMO_CLUSTER[as_yaml]
    path = tmp_path_factory.mktemp("m") / ("cluster.yaml" if as_yaml else "cluster.json")
    path.write_bytes(mutate(data, mutations))
    only(SnapshotError, lambda: load_snapshot([str(path)]))


# --- alias bombs of every shape -------------------------------------------------------------


def bomb(breadth: int, depth: int) -> str:
    levels = ["&l0 [" + ", ".join(['"lol"'] * breadth) + "]"]
    for i in range(1, depth):
        levels.append(f"&l{i} [" + ", ".join([f"*l{i - 1}"] * breadth) + "]")
    return "[" + ", ".join(levels) + "]"


@settings(max_examples=60, deadline=3000, database=None)
@given(st.integers(2, 12), st.integers(2, 10), st.sampled_from(["pricing", "web", "cluster"]))
def test_alias_bombs_of_any_breadth_and_depth(breadth: int, depth: int, where: str) -> None:
    text = bomb(breadth, depth)
    expanded = sum(breadth ** k for k in range(1, depth + 1))  # the strings and lists aliases add
    if where == "pricing":
        parse: Callable[[], Any] = lambda: parse_pricing(f"default:\n  gpu_hour: {text}\n", "b.yaml")
        error: type[Exception] = PricingError
    elif where == "web":
        parse, error = lambda: parse_web_config(f"basic_auth_users:\n  u: {text}\n", "b.yml"), WebConfigError
    else:
        parse, error = lambda: _snapshot_text(f"kind: Pod\nmetadata:\n  name: {text}\n"), SnapshotError
    message = ""
    with bounded_memory():
        try:
            parse()
        except error as exc:
            message = str(exc)
    # Small expansions load (and may be refused for their type); large ones are refused for
    # their aliases, before anything formats them.
    if expanded > 20_000:
        assert "aliases expand this document" in message
    assert "lol" not in message or len(message) < 400


def _snapshot_text(text: str) -> Any:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.yaml"
        path.write_text(text)
        return load_snapshot([str(path)])


def test_the_fuzz_strategies_reach_past_the_parser() -> None:
    # The structured strategy must produce documents that load: a fuzz suite that only ever
    # hits "invalid YAML" would test nothing. One fixed example of each kind.
    assert parse_pricing(dump({"default": {"gpu_hour": 2.5}}), "f.yaml").default.gpu_hour == 2.5
    assert math.isclose(parse_pricing(dump({"gpu_weights": {"x": 0.5}}), "f.yaml").gpu_weights["x"], 0.5)
    assert parse_web_config(dump({"http_server_config": {"http2": True}}), "f.yml").headers == {}
