"""Issue 15: hostile and broken input files. Each bad file is one line on stderr naming the file
(and line or key), exit code 2, never a traceback; a bad object inside a good file is left out
and counted; a node no machine can be is skipped, never priced below zero."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from gpucost.cli import main
from gpucost.webconfig import WebConfigError, WebGuard

from builders import container, engine, node, pod


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


#: (file name, bytes, what stderr says after "gpucost-exporter: error: <path>")
PRICING = [
    # 400 digits: an int Python holds but float() cannot (OverflowError before the fix)
    ("big-int.yaml", b"default:\n  gpu_hour: " + b"9" * 400 + b"\n",
     ":2: default.gpu_hour: must be at most 1e+15, got 99999"),
    # 5,000 digits: past Python's int() digit limit (ValueError inside the YAML loader)
    ("huge-int.yaml", b"default:\n  gpu_hour: " + b"9" * 5000 + b"\n",
     ":2: invalid YAML: an integer of 5000 characters is too long to read"),
    ("huge-weight.yaml", b"gpu_weights:\n  nvidia.com/gpu: " + b"9" * 400 + b"\n",
     ":2: gpu_weights.nvidia.com/gpu: must be at most 1e+15"),
    # an on-premises server amortised over a microsecond costs more than any float
    ("amortize.yaml", b"nodes:\n- match: {name: a}\n  amortize: {purchase: 1000000.0, years: 1.0e-300}\n",
          # 1e6 / (1e-300 years * 8760 h) = 1.14155e+302 per hour
     ":3: nodes[0].amortize.years: purchase / years is 1.14155e+302 per hour, over the 1e+15 limit"),
    ("latin-1.yaml", "currency: \u00e9UR\n".encode("latin-1"),
     ":1: not valid UTF-8: byte 0xe9 at offset 10; save the file as UTF-8"),
    ("deep-flow.yaml", b"default: " + nested(5000) + b"\n", ":1: nested deeper than 64 levels"),
    ("deep-block.yaml", b"default: " + b"{a: " * 3000 + b"1" + b"}" * 3000 + b"\n", ":1: nested deeper than 64 levels"),
    ("bad-date.yaml", b"currency: 2024-13-45\n", ":1: invalid YAML: cannot read '2024-13-45' as a timestamp"),
    ("recursive.yaml", b"labels: &a {team: [*a]}\n", ":1: an alias refers to a node that contains it"),
]


@pytest.mark.parametrize(("name", "data", "message"), PRICING, ids=[c[0] for c in PRICING])
def test_a_hostile_pricing_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, data: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert main(["--demo", "--once", "--pricing-file", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"gpucost-exporter: error: {path}{message}"), err
    assert err.count("\n") == 1 and len(err) < 400


def test_a_utf16_pricing_file_with_a_byte_order_mark_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # PowerShell's `>` writes UTF-16 with a byte-order mark; YAML allows it.
    path = tmp_path / "pricing.yaml"
    path.write_bytes("currency: EUR\nusd_rate: 0.9\ndefault:\n  cpu_core_hour: 0.5\n".encode("utf-16"))
    assert main(["--demo", "--once", "--pricing-file", str(path)]) == 0
    assert 'gpucost_pricing_info{currency="EUR"' in capsys.readouterr().out


def test_an_oversized_pricing_file_is_refused_before_it_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pricing.yaml"
    path.write_bytes(b"# padding\n" * (4 * 2**20 // 10 + 1))  # 4 MiB + 10 bytes of comments
    assert main(["--demo", "--once", "--pricing-file", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"gpucost-exporter: error: {path}: pricing file larger than the 4 MiB limit; see docs/input-limits.md\n"
    )


WEB = [
    ("utf-16-be.yml", "basic_auth_users:\n  a: b\n".encode("utf-16-be"),
     ":1: a NUL byte at offset 0: not a text file (UTF-16 without a byte-order mark?)"),
    ("deep.yml", b"basic_auth_users: " + nested(5000) + b"\n", ":1: nested deeper than 64 levels"),
    ("huge-int.yml", b"basic_auth_users:\n  a: " + b"9" * 5000 + b"\n",
     ":2: invalid YAML: an integer of 5000 characters is too long to read"),
    ("list-key.yml", b"basic_auth_users:\n  [a]: b\n", ":2: invalid YAML: mapping keys must be scalars"),
    # the prefix of a bcrypt hash but not one: bcrypt raised "Invalid salt" at the first login (500)
    ("bad-hash.yml", b"basic_auth_users:\n  prometheus: $2y$10$garbage\n",
     ":2: basic_auth_users.prometheus: expected a bcrypt hash ($2y$...)"),
]


@pytest.mark.parametrize(("name", "data", "message"), WEB, ids=[c[0] for c in WEB])
def test_a_hostile_web_config_is_one_line(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(WebConfigError) as err:
        WebGuard(str(path))
    assert str(err.value).startswith(f"{path}{message}"), str(err.value)
    assert "\n" not in str(err.value)


CLUSTER = [
    ("deep.json", b'{"kind": "NodeList", "items": [' + nested(5000) + b"]}", ": invalid JSON: nested too deeply to read"),
    ("deep.yaml", b"kind: NodeList\nitems:\n- " + b"[" * 300 + b"]" * 300 + b"\n", ":3: nested deeper than 256 levels"),
    ("kind-list.yaml", b"kind: [NodeList]\nitems: []\n", ": kind is a list, not a string"),
    ("kind-map.yaml", b"kind: {a: b}\nmetadata: {name: a}\n", ": kind is a mapping, not a string"),
    ("utf-16-no-bom.json", '{"kind": "Node"}'.encode("utf-16-le"),
     ":1: a NUL byte at offset 1: not a text file (UTF-16 without a byte-order mark?)"),
    ("control.yaml", b"kind: Node\x07\n", ": invalid YAML: character '\\x07' at offset 10: "),
]


@pytest.mark.parametrize(("name", "data", "message"), CLUSTER, ids=[c[0] for c in CLUSTER])
def test_a_hostile_cluster_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, data: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert main(["--once", "--from-file", str(path)]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"gpucost-exporter: error: {path}{message}"), err
    assert err.count("\n") == 1 and out == ""


def item(name: str, extra: str) -> str:
    return '{"kind": "Pod", "metadata": {"name": "%s", "namespace": "ml"}, %s}' % (name, extra)


#: Broken objects inside a good List: each is left out and named; the good pod stays.
BROKEN_ITEMS = [
    # a JSON number out of float range: the error handler decoded the object again and raised
    ('"spec": {"nodeName": "n1", "containers": [{"resources": {"requests": {"cpu": 1e999}}}]}',
     "item 0 (Pod ml/bad): Number out of range"),
    ('"spec": {"containers": [{"resources": {"requests": {"cpu": ' + "9" * 5000 + "}}}]}",
     "item 0 (Pod ml/bad): Integer value out of range"),
    ('"spec": {"nodeName": "n1\xe9"}', "item 0 (Pod ml/bad): Invalid UTF-8"),
]


@pytest.mark.parametrize(("extra", "message"), BROKEN_ITEMS, ids=["1e999", "5000-digits", "latin-1"])
def test_a_broken_object_is_left_out_named_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, message: str
) -> None:
    good = json.dumps(node("n1", cpu="4")) + ", " + json.dumps(pod("ok", "n1", container(cpu="1"), namespace="ml"))
    path = tmp_path / "cluster.json"
    path.write_bytes(('{"kind": "List", "items": [' + item("bad", extra) + ", " + good + "]}").encode("latin-1"))
    assert main(["--once", "--from-file", str(path)]) == 0
    out, err = capsys.readouterr()
    assert f"{path}: {message}" in err
    assert "Traceback" not in err
    assert 'gpucost_objects_skipped{kind="Pod",reason="decode_error"} 1' in out \
        or 'gpucost_objects_skipped{kind="Unknown",reason="decode_error"} 1' in out
    # the good pod is charged: 1 of 4 cores at the default 0.031611 $/core-hour
    assert 'gpucost_pod_cpu_cost_per_hour{namespace="ml",pod="ok",node="n1"' in out and "} 0.031611\n" in out


def test_yaml_items_whose_kind_is_not_a_string_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("kind: List\nitems:\n- kind: [Pod]\n  metadata: {name: a}\n- kind: {Pod: 1}\n")
    assert main(["--once", "--from-file", str(path)]) == 0
    out, err = capsys.readouterr()
    assert f"{path}: item 0 (a): kind is a list, not a string" in err
    assert f"{path}: item 1: kind is a mapping, not a string" in err
    assert 'gpucost_objects_skipped{kind="Unknown",reason="decode_error"} 2' in out


def test_a_utf16_cluster_file_from_powershell_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cluster.json"
    path.write_bytes(json.dumps({"kind": "List", "items": [node("n1", cpu="4")]}).encode("utf-16"))
    assert main(["--once", "--from-file", str(path)]) == 0
    # 4 cores at 0.031611 $/core-hour = 0.126444
    assert 'gpucost_node_cost_per_hour{node="n1",resource="cpu"} 0.126444\n' in capsys.readouterr().out


# --- values that make no physical sense -------------------------------------------------------

NEGATIVE = [
    ({"cpu": "-4"}, None, "capacity[cpu]: negative quantity '-4'"),
    ({"memory": "-1Gi"}, None, "capacity[memory]: negative quantity '-1Gi'"),
    (None, {"cpu": "-500m"}, "allocatable[cpu]: negative quantity '-500m'"),
    ({"nvidia.com/gpu": "-8"}, None, "capacity[nvidia.com/gpu]: negative quantity '-8'"),
]


@pytest.mark.parametrize(("capacity", "allocatable", "message"), NEGATIVE, ids=["cpu", "memory", "alloc-cpu", "gpu"])
def test_a_node_with_negative_capacity_is_skipped_not_priced_below_zero(
    caplog: pytest.LogCaptureFixture, capacity: dict[str, str] | None, allocatable: dict[str, str] | None,
    message: str,
) -> None:
    bad = node("n1", cpu="4")
    bad["status"]["capacity"].update(capacity or {})
    bad["status"]["allocatable"].update(allocatable or {})
    with caplog.at_level(logging.WARNING):
        state = engine([bad, pod("p", "n1", container(cpu="1"))])
    text = state.render()
    assert f"Node n1: status: {message}; a node cannot hold less than nothing" in caplog.text
    assert 'gpucost_objects_skipped{kind="Node",reason="invalid_value"} 1' in text  # well-formed, impossible
    assert 'gpucost_objects_skipped{kind="Pod",reason="node_invalid"} 1' in text
    assert 'node="n1"' not in text  # no node series at all, so none below zero
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert all(float(line.rsplit(" ", 1)[1]) >= 0 for line in samples)


def test_a_node_without_a_name_has_no_series_with_an_empty_name(caplog: pytest.LogCaptureFixture) -> None:
    # A watch event can carry one (a file's nameless objects are left out while loading).
    nameless = node("", cpu="4")
    with caplog.at_level(logging.WARNING):
        text = engine([nameless]).render()
    assert "no metadata.name; every node series is named by it" in caplog.text
    assert 'node=""' not in text
    assert 'gpucost_objects_skipped{kind="Node",reason="invalid_value"} 1' in text


def test_a_pod_without_a_name_has_no_series_with_an_empty_name(caplog: pytest.LogCaptureFixture) -> None:
    # A watch event can carry one; its series would all read pod="".
    nameless = pod("", "n1", container(cpu="1"))
    with caplog.at_level(logging.WARNING):
        text = engine([node("n1", cpu="4"), nameless]).render()
    assert "has no metadata.name" in caplog.text
    assert 'pod=""' not in text
    assert 'gpucost_objects_skipped{kind="Pod",reason="invalid_value"} 1' in text


# --- while running: the last good configuration stays -----------------------------------------

LAUGHS = "[&a [lol, lol, lol, lol, lol, lol, lol, lol, lol], " + ", ".join(
    f"&{n} [" + ", ".join([f"*{p}"] * 9) + "]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
) + "]"


def test_a_hostile_pricing_reload_keeps_the_prices_in_effect(tmp_path: Path) -> None:
    from gpucost.reload import PricingSource

    path = tmp_path / "pricing.yaml"
    path.write_text("default:\n  cpu_core_hour: 0.5\n")
    source = PricingSource(str(path))
    current = source.load()
    for hostile in (f"default:\n  gpu_hour: {LAUGHS}\n".encode(), b"default:\n  gpu_hour: " + b"9" * 400 + b"\n",
                    "currency: \u00e9UR\n".encode("latin-1"), b"default: " + nested(5000) + b"\n"):
        path.write_bytes(hostile)
        assert source.try_load(current, "test") is None
        assert source.successful is False
    assert current.default.cpu_core_hour == 0.5


def test_a_hostile_web_config_reload_keeps_the_config_in_force(tmp_path: Path) -> None:
    import os

    path = tmp_path / "web.yml"
    path.write_text("http_server_config:\n  headers:\n    X-Frame-Options: deny\n")
    guard = WebGuard(str(path))
    for i, hostile in enumerate((f"basic_auth_users:\n  prometheus: {LAUGHS}\n".encode(),
                                 "basic_auth_users: {}\n".encode("utf-16-be"),
                                 b"basic_auth_users: " + nested(5000) + b"\n")):
        path.write_bytes(hostile)
        os.utime(path, (1_800_000_000 + i, 1_800_000_000 + i))  # a new stamp even within one clock tick
        guard.maybe_reload()
        assert guard.reload_failures == i + 1
    assert guard.config.headers == {"X-Frame-Options": "deny"}


@pytest.mark.parametrize("text", [
    'labels:\n  "team\\nx": [team]\n',  # a key with a newline (found by the fuzz suite)
    'gpu_models:\n  "a\\tb\\u0007": cheap\n',
])
def test_config_errors_stay_on_one_line(text: str) -> None:
    from gpucost.pricing import PricingError
    from gpucost.pricing_file import parse_pricing

    with pytest.raises(PricingError) as err:
        parse_pricing(text, "p.yaml")
    message = str(err.value)
    assert "\n" not in message and message.isprintable(), message
    assert message.startswith("p.yaml:2: ")


def test_an_overlong_utf8_sequence_in_a_yaml_cluster_file_is_one_line(tmp_path: Path) -> None:
    # Found by the fuzz suite: b"\xc0\x80" makes PyYAML report character -1, not a code point.
    from gpucost.snapshot import SnapshotError, load_snapshot

    path = tmp_path / "cluster.yaml"
    path.write_bytes(b"\xc0\x80kind: List\nitems: []\n")
    with pytest.raises(SnapshotError) as err:
        load_snapshot([str(path)])
    assert "\n" not in str(err.value) and str(path) in str(err.value)
