"""Shared test setup: tests/ on sys.path for the helper modules, log handlers restored after
each test, and a small PKI."""

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))

# CI runs the property and fuzz suites with a fixed seed, so a submission's result does not
# depend on which examples one run happens to draw; locally they explore new examples each run
# (and keep failures in .hypothesis/ to replay).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """main() sends log records to stderr (logs.configure); leave no handler or level behind for
    the tests that run after it in the same process."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def pki(tmp_path: Path) -> Iterator[Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all EC P-256."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    d = tmp_path / "pki"
    d.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=fake-ca",
             "-days", "1", cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, extra in (("server", ["-extfile", "san.ext"]), ("client", [])):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}/O=system:masters", cwd=d)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.crt", "-days", "1", *extra, cwd=d)  # fmt: skip
    yield d


#: How a billing test's export is expected to be delivered, relative to the window the loader
#: finds (billing._expected_start): not guessed (two reads), guessed right, guessed days early
#: (one read, more of the export parsed), guessed days late (the second read after all).
GUESSES = {"two-reads": None, "guessed": 0, "guessed-early": -3, "guessed-late": 2}


@pytest.fixture(params=list(GUESSES))
def window_guess(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a billing test with each kind of guess of where the window starts: the hand-worked
    figures must not depend on it. The guess is worked out from the files' latest start day
    (as the survey finds it), not from the loader's answer."""
    from datetime import date, timedelta

    from gpucost import billing

    offset = GUESSES[request.param]

    def guess(files: list[Path], window_days: float) -> str:
        if offset is None:
            return ""
        try:
            latest = max((day for f in files for _, _, day in (billing._survey(f, "EffectiveCost") or []) if day),
                         default="")
        except billing.BillingError:  # the loader says what is wrong with the export
            return "2026-11-01"
        try:
            last = date.fromisoformat(latest[:10])
        except ValueError:
            return "2026-11-01"
        return str(last - timedelta(days=int(window_days) - 1 - offset))

    monkeypatch.setattr(billing, "_expected_start", guess)
    return str(request.param)
