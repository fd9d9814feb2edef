"""Issue 15: YAML alias bombs ("billion laughs") in the pricing file, the web config and a YAML
cluster file. Nine aliases of nine aliases, nine levels deep, are 9^9 = 387 million strings once
expanded; before the guard, messages and name helpers formatted that expansion and the process
grew past 1 GB in seconds. Each file is loaded in a child process whose address space is
capped, and the child reports how much its peak resident memory grew."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

#: Growth of peak RSS allowed while loading one bomb (the guard stops it at ~a few hundred KiB).
MAX_GROWTH_KIB = 64 * 1024

CHILD = r"""
import json, resource, sys, time
from gpucost.pricing_file import load_pricing
from gpucost.snapshot import load_snapshot
from gpucost.webconfig import load_web_config

load = {"pricing": load_pricing, "web": load_web_config, "cluster": lambda p: load_snapshot([p])}[sys.argv[1]]
vm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize:")) * 1024
# A cap, so an unguarded loader fails with MemoryError instead of taking the machine.
resource.setrlimit(resource.RLIMIT_AS, (vm + 768 * 2**20, resource.RLIM_INFINITY))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
try:
    load(sys.argv[2])
    error, message = "", ""
except Exception as exc:
    error, message = type(exc).__name__, str(exc)
print(json.dumps({"error": error, "message": message[:2000], "message_length": len(message),
                  "growth_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before,
                  "seconds": round(time.perf_counter() - started, 3)}))
"""


def laughs() -> str:
    """A flow sequence defining &a .. &i, each nine aliases of the one before."""
    levels = ['&a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"&{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "[" + ", ".join(levels) + "]"


BOMBS = [
    # (loader, file, where the expansion used to be formatted, expected error)
    ("pricing", f"default:\n  gpu_hour: {laughs()}\n", "Reader.number's message", "PricingError"),
    ("pricing", f"labels:\n  team: {laughs()}\n", "the labels check", "PricingError"),
    ("web", f"basic_auth_users:\n  prometheus: {laughs()}\n", "Reader.string's message", "WebConfigError"),
    ("cluster", f"kind: List\nitems:\n- kind: Pod\n  metadata:\n    name: {laughs()}\n", "the object name helper",
     "SnapshotError"),
    ("cluster", f"kind: List\nitems:\n- kind: Node\n  metadata: {{name: n1}}\n  x: {laughs()}\n",
     "conversion of the object", "SnapshotError"),
]


@pytest.mark.parametrize(("loader", "text", "where", "error"), BOMBS,
                         ids=["pricing-value", "pricing-labels", "web-user", "cluster-name", "cluster-field"])
def test_an_alias_bomb_is_refused_without_growing_the_process(
    tmp_path: Path, loader: str, text: str, where: str, error: str
) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    child = subprocess.run([sys.executable, "-c", CHILD, loader, str(path)],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr[-2000:]
    result = json.loads(child.stdout)
    print(f"{loader} ({where}): {result}")
    assert result["error"] == error
    # 23 nodes written (9 strings, 9 lists, the outer list and its items...); the bound is what
    # aliases may add: max(10,000, the document's own size).
    assert "aliases expand this document from" in result["message"]
    assert "lol" not in result["message"] and result["message_length"] < 300
    assert result["growth_kib"] < MAX_GROWTH_KIB


def test_aliases_within_the_allowance_still_load(tmp_path: Path) -> None:
    # Anchors and merge keys are ordinary YAML: a shared price block used by two rules.
    from gpucost.pricing_file import load_pricing

    path = tmp_path / "pricing.yaml"
    path.write_text("nodes:\n- match: {name: a-*}\n  hourly: &p 2.5\n- match: {name: b-*}\n  hourly: *p\n")
    rules = load_pricing(path).nodes
    assert [r.hourly for r in rules] == [2.5, 2.5]
