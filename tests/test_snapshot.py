"""Snapshot files (issue 14, item 3): a file that holds no Kubernetes object is an error naming
the file and what was expected; a bad object inside a List is left out, counted and logged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gpucost.snapshot import SnapshotError, load_snapshot

EXPECTED = "expected a Kubernetes List or objects, as `kubectl get ... -o json|yaml` writes them"


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("no-kind.json", '{"foo": 1}', "a mapping without kind"),
        ("empty.json", "", "empty file"),
        ("blank.yaml", "  \n\n", "empty file"),
        ("comments.yaml", "# nothing here\n---\n", "no YAML document"),
        ("array.json", "[1, 2, 3]", "a JSON array"),
        ("array-of-objects.json", '[{"kind": "Node", "metadata": {"name": "a"}}]', "a JSON array"),
        ("string.json", '"hello"', "a str ('hello')"),
        ("number.yaml", "42\n", "a int ('42')"),
        ("list.yaml", "- a\n- b\n", "a list"),
        ("no-kind.yaml", "foo: 1\n", "a mapping without kind"),
        ("list-without-items.json", '{"apiVersion": "v1", "kind": "NodeList"}', "a NodeList without an items array"),
    ],
)
def test_a_file_without_kubernetes_objects_is_an_error(tmp_path: Path, name: str, content: str, problem: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(SnapshotError) as err:
        load_snapshot([str(path)])
    assert str(err.value) == f"{path}: {problem}; {EXPECTED}"


def test_the_bad_document_of_a_multi_document_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("kind: Namespace\nmetadata: {name: a}\n---\nfoo: 1\n")
    with pytest.raises(SnapshotError) as err:
        load_snapshot([str(path)])
    assert str(err.value) == f"{path}: document 2: a mapping without kind; {EXPECTED}"


def test_an_empty_list_is_valid(tmp_path: Path) -> None:
    # `kubectl get nodes -o json` on a cluster without nodes (or a filter matching none).
    path = tmp_path / "nodes.json"
    path.write_text('{"apiVersion": "v1", "items": [], "kind": "List", "metadata": {"resourceVersion": ""}}')
    snap = load_snapshot([str(path)])
    assert all(not objs for objs in snap.objects.values()) and snap.broken == []


#: A List as `kubectl get -o json` writes it, with one good object of each kind the exporter
#: reads, an ignored kind, and the bad items of issue 14.
LIST = {
    "apiVersion": "v1", "kind": "List",
    "items": [
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}},
        {"apiVersion": "v1", "kind": "Pod"},                                   # 1: no metadata
        {"apiVersion": "v1", "kind": "Node", "metadata": {"labels": {"a": "b"}}},  # 2: no name
        5,                                                                     # 3: not an object
        {"apiVersion": "v1", "metadata": {"name": "x"}},                       # 4: no kind
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ml"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "ml"}},
    ],
}


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_bad_objects_in_a_list_are_left_out_and_named(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"dump.{fmt}"
    path.write_text(json.dumps(LIST) if fmt == "json" else yaml.safe_dump(LIST))
    snap = load_snapshot([str(path)])
    assert [n.metadata.name for n in snap.objects["Node"]] == ["n1"]
    assert [p.metadata.name for p in snap.objects["Pod"]] == ["p"]
    assert snap.ignored_kinds == {"Service": 1}
    assert [(kind, key) for kind, key, _ in snap.broken] == [
        ("Pod", f"{path}#1"), ("Node", f"{path}#2"), ("", f"{path}#3"), ("", f"{path}#4"),
    ]
    messages = [message for _, _, message in snap.broken]
    assert messages[0] == f"{path}: item 1 (Pod): no metadata.name"
    assert messages[1] == f"{path}: item 2 (Node): no metadata.name"
    assert messages[2].startswith(f"{path}: item 3")
    assert messages[3] == f"{path}: item 4 (x): no kind"
