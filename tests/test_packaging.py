"""An installed gpucost works on its own (issue 14, item 1): build the wheel from what the image's
build context holds, install it into a fresh virtual environment (dependencies from PyPI, or
pip's cache), and run `gpucost-exporter --demo --once` far from the source tree, with no
environment variable pointing at the demo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]
#: The demo's p4de.24xlarge node (as in tests/test_demo.py): 27.44705 $/h split in proportion to
#: 96 cores x 0.031611 = 3.034656, 1176054916 Ki (1121.57 GiB) x 0.004237 = 4.752106 and
#: 8 GPUs x 2.44 = 19.52; the GPU part is 27.44705 x 19.52 / 27.306762 = 19.620283 $/h.
P4DE = "ip-10-0-41-77.ec2.internal"
W_CPU, W_MEM, W_GPU = 96 * 0.031611, 1176054916 * 1024 / 2**30 * 0.004237, 8 * 2.44
P4DE_GPU = 27.44705 * W_GPU / (W_CPU + W_MEM + W_GPU)


def build_context() -> list[str]:
    """What .dockerignore lets into the image's build: the same files make the wheel."""
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line[1:].rstrip("/") for line in lines if line.startswith("!")]


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{cmd}\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the fresh venv's bin folder)."""
    root = tmp_path_factory.mktemp("packaging")
    src = root / "src"
    src.mkdir()
    for entry in build_context():
        source = REPO / entry
        if source.is_dir():
            shutil.copytree(source, src / entry, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, src / entry)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q",
         "-w", str(root / "dist"), "."], cwd=src)
    (wheel,) = (root / "dist").glob("gpucost-*.whl")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=True)
    run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q",
         str(wheel)], cwd=root)
    return wheel, env_dir / "bin"


def test_the_wheel_carries_the_demo(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"gpucost/demo/cluster.json", "gpucost/demo/pricing.yaml", "gpucost/py.typed"} <= names


def test_installed_exporter_runs_the_demo(installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, bin_dir = installed
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GPUCOST_DEMO_DIR", "VIRTUAL_ENV")}
    out = run([str(bin_dir / "gpucost-exporter"), "--demo", "--once"], cwd=tmp_path, env=env)
    samples = {(s.name, tuple(sorted(s.labels.items()))): (s.labels, s.value)
               for f in text_string_to_metric_families(out) for s in f.samples}
    gpu = samples["gpucost_node_cost_per_hour", (("node", P4DE), ("resource", "gpu"))][1]
    assert gpu == pytest.approx(P4DE_GPU, rel=1e-12)
    assert gpu == pytest.approx(19.620283, abs=1e-6)
    (info,) = [labels for (name, _), (labels, _) in samples.items() if name == "gpucost_pricing_info"]
    # The pricing file came from the installed package, not from a checkout.
    assert info["source"].startswith(str(bin_dir.parent)) and info["source"].endswith("gpucost/demo/pricing.yaml")
    # The same exposition as the source tree's, apart from the file's path and the timing lines.
    here = subprocess.run([sys.executable, "-m", "gpucost", "--demo", "--once"], capture_output=True,
                          text=True, cwd=REPO, check=True).stdout

    def stable(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith(
            ("gpucost_scrape_duration", "gpucost_last_update", "gpucost_pricing_info{"))]

    assert stable(out) == stable(here)
