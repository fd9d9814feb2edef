"""A real Prometheus (the Debian package's binary) serving backfilled history, for the
report's end-to-end tests: OpenMetrics text -> `promtool tsdb create-blocks-from openmetrics`
-> `prometheus` on that data directory, on a free port of 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

STARTUP_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"`{name}` is not on PATH: install Prometheus (Debian/Ubuntu: "
                           f"`apt-get install prometheus`) or deselect with -m 'not prometheus'")
    return path


def backfill(openmetrics: str, workdir: Path) -> Path:
    """Write the text to workdir and turn it into TSDB blocks; return the data directory.

    `--max-block-duration` (accepted though not listed in 2.42's help) keeps 32 days in a
    couple of blocks: with the default 2h blocks promtool re-reads the input once per block.
    """
    source = workdir / "history.om"
    source.write_text(openmetrics)
    data = workdir / "data"
    subprocess.run([binary("promtool"), "tsdb", "create-blocks-from", "openmetrics",
                    "--max-block-duration=768h", "-q", str(source), str(data)],
                   check=True, capture_output=True, timeout=120)
    return data


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


def start(data: Path, workdir: Path, *extra_flags: str) -> Prometheus:
    """Start Prometheus on data (nothing to scrape) and wait until it answers /-/ready."""
    config = workdir / "prometheus.yml"
    config.write_text("global: {}\nscrape_configs: []\n")
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary("prometheus"), f"--config.file={config}",
                                 f"--storage.tsdb.path={data}",
                                 "--storage.tsdb.retention.time=100y",
                                 f"--web.listen-address=127.0.0.1:{port}", *extra_flags],
                                stdout=out, stderr=subprocess.STDOUT)
    prom = Prometheus(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited with {proc.returncode}:\n{prom.tail()}")
        try:
            with urllib.request.urlopen(f"{prom.url}/-/ready", timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return prom
        except OSError:
            pass
        time.sleep(0.2)
    prom.stop()
    raise RuntimeError(f"prometheus not ready after {STARTUP_TIMEOUT_S}s:\n{prom.tail()}")
