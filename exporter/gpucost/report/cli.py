"""Command line: `gpucost-report` (also `python -m gpucost.report`).

Showback and chargeback tables from the gpucost series a Prometheus already holds. Errors
(bad flags, Prometheus unreachable or refusing, no data, a future period) print one line on
stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import NoReturn, TextIO

from .. import __version__
from .dimensions import DimensionError, Dimensions, parse_filter
from .ledger import SORT_KEYS, Shaping, build_report
from .period import PeriodError, parse_duration, parse_tz, resolve_period
from .promapi import Connection, PrometheusClient, PrometheusError, parse_header
from .render import FORMATS, render
from .spend import UNUSED_GPU_CLUSTER, Integrator, NoData, SpendQuery, range_start_inclusive

PROG = "gpucost-report"
ENV_URL = "GPUCOST_PROMETHEUS_URL"
ENV_TOKEN = "GPUCOST_PROMETHEUS_BEARER_TOKEN"
ENV_USER = "GPUCOST_PROMETHEUS_USER"
ENV_PASSWORD = "GPUCOST_PROMETHEUS_PASSWORD"


class UsageError(Exception):
    """A bad flag: one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Spend per team, namespace, workload, node or GPU model "
                "over a period, read from gpucost's series in Prometheus.")
    src = p.add_argument_group("Prometheus")
    src.add_argument("--prometheus", metavar="URL", default=os.environ.get(ENV_URL),
                     help=f"API root of Prometheus, Thanos Query or Mimir (${ENV_URL})")
    src.add_argument("--bearer-token-file", metavar="PATH",
                     help=f"file holding a bearer token (or ${ENV_TOKEN})")
    src.add_argument("--basic-auth-user", metavar="USER", default=os.environ.get(ENV_USER),
                     help=f"basic auth user (${ENV_USER})")
    src.add_argument("--basic-auth-password-file", metavar="PATH",
                     help=f"file holding the basic auth password (or ${ENV_PASSWORD})")
    src.add_argument("--ca-file", metavar="PATH", help="CA bundle to verify Prometheus' certificate")
    src.add_argument("--cert-file", metavar="PATH", help="client certificate (mutual TLS)")
    src.add_argument("--key-file", metavar="PATH", help="client certificate's key")
    src.add_argument("--insecure-skip-verify", action="store_true",
                     help="do not verify Prometheus' certificate")
    src.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                     help="extra request header, repeatable (X-Scope-OrgID: tenant)")
    src.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                     help="per query (default 120)")
    per = p.add_argument_group("period (one of --last, --month, --from; default --last 30d)")
    per.add_argument("--last", metavar="DURATION", help="up to now: 30d, 12h, 2w")
    per.add_argument("--month", metavar="YYYY-MM", help="a calendar month")
    per.add_argument("--from", dest="start", metavar="TIME", help="RFC 3339 or YYYY-MM-DD")
    per.add_argument("--to", dest="end", metavar="TIME",
                     help="RFC 3339 (exclusive) or YYYY-MM-DD (that day included); default now")
    per.add_argument("--tz", default="UTC", metavar="ZONE",
                     help="zone for dates and months (IANA name; default UTC)")
    rows = p.add_argument_group("rows and columns")
    rows.add_argument("--by", action="append", default=[], metavar="DIMS",
                      help="row key, comma-separated or repeated: a dimension label (team...), "
                           "namespace, owner, node, gpu_model, cluster (default namespace)")
    rows.add_argument("--filter", metavar="MATCHERS",
                      help="PromQL label matchers on the pod series: 'namespace=~\"ml-.*\"'")
    rows.add_argument("--idle", choices=["separate", "shared", "hidden"], default="separate",
                      help="idle cost as its own rows, shared over the rows, or left out")
    rows.add_argument("--sort", choices=SORT_KEYS, default="total",
                      help="largest first by a column, or by name (default total)")
    rows.add_argument("--top", type=int, metavar="N", help="N rows; the rest as one __other__ row")
    rows.add_argument("--format", choices=FORMATS, default="table", help="default table")
    exact = p.add_argument_group("integration")
    exact.add_argument("--step", metavar="DURATION",
                       help="time each sample stands for: gpucost's scrape interval "
                            "(default: detected from the data)")
    exact.add_argument("--unused-step", metavar="DURATION",
                       help="time each unused-GPU sample stands for: the utilization rules' "
                            "evaluation interval (default: detected from the data)")
    exact.add_argument("--chunk", default="1d", metavar="DURATION",
                       help="query the period in pieces this long (default 1d)")
    exact.add_argument("--no-progress", action="store_true",
                       help="no progress line on stderr (shown only on a terminal anyway)")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return p


def _secret(path: str | None, env: str, flag: str) -> str | None:
    if path is None:
        return os.environ.get(env)
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise UsageError(f"{flag} {path}: {exc.strerror}") from None


def connection(args: argparse.Namespace) -> Connection:
    """The Prometheus connection the flags describe."""
    if not args.prometheus:
        raise UsageError(f"--prometheus (or ${ENV_URL}) is required")
    token = _secret(args.bearer_token_file, ENV_TOKEN, "--bearer-token-file")
    password = _secret(args.basic_auth_password_file, ENV_PASSWORD, "--basic-auth-password-file")
    if token and args.basic_auth_user:
        raise UsageError("a bearer token and --basic-auth-user cannot be combined")
    if bool(args.cert_file) != bool(args.key_file):
        raise UsageError("--cert-file and --key-file go together")
    try:
        headers = dict(parse_header(h) for h in args.header)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.timeout <= 0:
        raise UsageError(f"--timeout: must be > 0, got {args.timeout:g}")
    return Connection(args.prometheus, bearer_token=token or None,
                      basic_user=args.basic_auth_user, basic_password=password,
                      ca_file=args.ca_file, cert_file=args.cert_file, key_file=args.key_file,
                      insecure_skip_verify=args.insecure_skip_verify, headers=headers,
                      timeout_s=args.timeout)


class _Progress:
    """`12/90 days` on one rewritten stderr line; only on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = False

    def __call__(self, done_ms: int, total_ms: int) -> None:
        self.stream.write(f"\r{PROG}: queried {done_ms / 86_400_000:.1f} of "
                          f"{total_ms / 86_400_000:.1f} days")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


def run(argv: Sequence[str] | None, now: datetime, out: TextIO, err: TextIO) -> int:
    """Parse, query, print. Raises the one-line errors `main` reports."""
    args = build_parser().parse_args(argv)
    conn = connection(args)
    tz = parse_tz(args.tz)
    period = resolve_period(last=args.last, month=args.month, start=args.start, end=args.end,
                            tz=tz, now=now)
    period = type(period)(period.start.astimezone(tz), period.end.astimezone(tz), period.label)
    dims = Dimensions.parse(args.by)
    matchers = parse_filter(args.filter)
    if args.top is not None and args.top < 1:
        raise UsageError(f"--top: must be >= 1, got {args.top}")
    step = parse_duration(args.step, "--step").total_seconds() if args.step else None
    unused_step = (parse_duration(args.unused_step, "--unused-step").total_seconds()
                   if args.unused_step else None)
    chunk_ms = int(parse_duration(args.chunk, "--chunk").total_seconds() * 1000)

    client = PrometheusClient(conn)
    progress = _Progress(err) if not args.no_progress and err.isatty() else None
    query = SpendQuery(dims, matchers,
                       cluster_totals=args.idle == "shared" and bool(matchers))
    integrator = Integrator(client, query,
                            inclusive_start=range_start_inclusive(client, now.timestamp()),
                            chunk_ms=chunk_ms, progress=progress)
    start_ms = int(period.start.timestamp() * 1000)
    end_ms = int(period.end.timestamp() * 1000)
    try:
        sums = integrator.run(start_ms, end_ms)
    finally:
        if progress is not None:
            progress.clear()
    if sums.empty:
        raise NoData(f"no gpucost data in {period.label} ({period.start.isoformat()} to "
                     f"{period.end.isoformat()}) at {client.base}")
    if len(sums.currencies) > 1:
        raise NoData(f"the period mixes currencies ({', '.join(sorted(sums.currencies))}): "
                     f"report the periods before and after the change separately")
    if step is None:
        step = integrator.detect_step_s()
        if step is None:
            raise NoData("cannot tell gpucost's scrape interval from the data "
                         "(no gpucost_pricing_info samples): pass --step")
    if not sums.has_unused:
        unused_step = None  # no utilization rules' data in the period: no unused_gpu column
    elif unused_step is None:
        unused_step = integrator.detect_unused_step_s()
        if unused_step is None:
            raise NoData("cannot tell the utilization rules' evaluation interval from the data "
                         f"(no {UNUSED_GPU_CLUSTER} samples): pass --unused-step")
    report = build_report(sums, dims, period, step,
                          Shaping(idle=args.idle, sort=args.sort, top=args.top),
                          next(iter(sums.currencies), ""), client.base, unused_step)
    if matchers and args.idle == "separate" and any(m.label not in {"node", "cluster"}
                                                    for m in matchers):
        report.notes.append("idle rows are for the whole cluster: --filter on pod labels "
                            "does not apply to idle cost")
    out.write(render(report, args.format))
    return 0


def main(argv: Sequence[str] | None = None, now: datetime | None = None) -> int:
    """Entry point; `now` fixes the clock (tests). Returns the exit code."""
    try:
        return run(argv, now or datetime.now(timezone.utc), sys.stdout, sys.stderr)
    except (UsageError, PeriodError, DimensionError, PrometheusError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
