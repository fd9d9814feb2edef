"""The prices in effect, and their reload without a restart.

`PricingSource` reads the pricing file and the billing export together (the export must be in
the file's currency). On SIGHUP, or when either changes on disk (size or modification time,
checked every `--pricing.reload-interval` seconds), it reads them again and re-prices every
node in place: watches, pods and their reservations are untouched. A new version that does not
load keeps the old prices, logs why (file, line, key or column) and sets
`gpucost_config_last_reload_successful` to 0, as Prometheus and Alertmanager do.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from .billing import COST_COLUMNS, DEFAULT_WINDOW_DAYS, BillingPrices, load_billing, watched_files
from .configfile import ConfigError
from .exposition import MetricFamily
from .pricing import PricingConfig
from .pricing_file import load_pricing

log = logging.getLogger("gpucost.reload")


class Repriceable(Protocol):
    pricing: PricingConfig

    def reprice(self, pricing: PricingConfig) -> None: ...


class PricingSource:
    """The pricing file (optional) and billing export (optional) behind the prices."""

    def __init__(
        self,
        pricing_path: str | None,
        billing_path: str | None = None,
        *,
        cost_column: str = COST_COLUMNS[0],
        window_days: float = DEFAULT_WINDOW_DAYS,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.pricing_path = pricing_path
        self.billing_path = billing_path
        self.cost_column = cost_column
        self.window_days = window_days
        self._clock = clock
        self._timer = timer
        self._seen: tuple[tuple[str, int, int], ...] = ()
        self.last_success = 0.0
        self.successful = True
        self.billing: BillingPrices | None = None
        #: Seconds the billing export in effect took to load (its files read and priced).
        self.billing_seconds = 0.0

    def load(self) -> PricingConfig:
        """Read both files. Raises ConfigError (PricingError, BillingError) naming the file."""
        seen = self._fingerprint()
        pricing = load_pricing(self.pricing_path) if self.pricing_path else PricingConfig()
        billing, seconds = None, 0.0
        if self.billing_path:
            started = self._timer()
            # The export grows: its window starts no earlier than the last load's did.
            billing = load_billing(self.billing_path, pricing.currency, cost_column=self.cost_column,
                                   window_days=self.window_days,
                                   since=self.billing.window_start if self.billing is not None else "")
            seconds = self._timer() - started
            pricing = dataclasses.replace(pricing, billing=billing)
        self._seen, self.billing, self.billing_seconds = seen, billing, seconds
        self.last_success, self.successful = self._clock(), True
        return pricing

    def _fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        paths: list[Path] = [Path(self.pricing_path)] if self.pricing_path else []
        if self.billing_path:
            try:
                paths.extend(watched_files(self.billing_path))
            except ConfigError:
                paths.append(Path(self.billing_path))
        out = []
        for p in paths:
            try:
                st = p.stat()
                out.append((str(p), st.st_size, st.st_mtime_ns))
            except OSError:
                out.append((str(p), -1, -1))
        return tuple(out)

    def changed(self) -> bool:
        """Whether either file differs from what was last read (or last failed to load)."""
        return self._fingerprint() != self._seen

    def try_load(self, current: PricingConfig, why: str) -> PricingConfig | None:
        """Load again; None (and the failure logged and recorded) when the new version is
        unusable. Safe to run in a worker thread: it touches no cost state."""
        seen = self._fingerprint()
        try:
            pricing = self.load()
            _check_compatible(current, pricing)
        except ConfigError as exc:
            self._seen = seen  # a broken version is reported once, not on every check
            self.successful = False
            log.error("reload (%s) failed, keeping the prices in effect: %s", why, exc)
            return None
        log.info("reload (%s): %s", why, self.summary(pricing))
        return pricing

    def summary(self, pricing: PricingConfig) -> str:
        """Where the prices in effect come from, for the log: the pricing file, and the billing
        export with what its last load read and took."""
        b = self.billing
        note = (f", billing export {b.source} ({_count(len(b.resources), 'resource')}; {_count(b.rows, 'row')} "
                f"read in {self.billing_seconds:.1f} s)") if b else ""
        return f"prices from {pricing.source}{note}"

    def reload(self, state: Repriceable, why: str) -> bool:
        """Load again and re-price `state`; on failure keep its prices. True on success."""
        pricing = self.try_load(state.pricing, why)
        if pricing is not None:
            state.reprice(pricing)
        return pricing is not None

    def metric_families(self) -> Iterator[MetricFamily]:
        yield MetricFamily(
            "gpucost_config_last_reload_successful", "gauge",
            "Whether the last reload of the pricing file and billing export succeeded (1) or failed (0).",
            [((), 1 if self.successful else 0)],
        )
        yield MetricFamily(
            "gpucost_config_last_reload_success_timestamp_seconds", "gauge",
            "Unix time of the last successful load of the pricing file and billing export.",
            [((), self.last_success)],
        )
        if self.billing is not None:
            yield MetricFamily(
                "gpucost_billing_resources", "gauge",
                "Compute resources the billing export prices (within its window).",
                [((), len(self.billing.resources))],
            )
            yield MetricFamily(
                "gpucost_billing_rows_skipped", "gauge",
                "Rows of the billing export left out for missing or malformed fields, by reason (see the log).",
                [((("reason", r),), n) for r, n in sorted(self.billing.skipped.items())],
            )
            yield MetricFamily(
                "gpucost_billing_export_files", "gauge",
                "Files of the billing export read; passed over as another delivery's; listed by the "
                "manifest of a delivery read but missing from the directory (see the log).",
                [((("state", "read"),), self.billing.files),
                 ((("state", "passed_over"),), self.billing.files_passed_over),
                 ((("state", "missing"),), self.billing.files_missing)],
            )
            yield MetricFamily(
                "gpucost_billing_export_rows", "gauge",
                "Data rows in the billing export files read (every charge and day; the window's compute rows are parsed).",
                [((), self.billing.rows)],
            )
            yield MetricFamily(
                "gpucost_billing_export_last_charge_timestamp_seconds", "gauge",
                "Unix time the latest compute charge period in the billing export's window ends: how current the bill "
                "behind the prices is.",
                [((), self.billing.last_charge_end)],
            )
            yield MetricFamily(
                "gpucost_billing_export_load_duration_seconds", "gauge",
                "Seconds the billing export in effect took to load: its files read and priced.",
                [((), self.billing_seconds)],
            )
            yield MetricFamily(
                "gpucost_billing_export_reads", "gauge",
                "Times the CSV export in effect was read to load it: 1 when its window was guessed from its "
                "delivery time (or the last load's), 2 when surveyed first (0: Parquet, surveyed by statistics).",
                [((), self.billing.reads)],
            )
            yield MetricFamily(
                "gpucost_billing_export_manifests_unreadable", "gauge",
                "Delivery manifests of the billing export that could not be read (see the log).",
                [((), self.billing.manifests_unreadable)],
            )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _check_compatible(old: PricingConfig, new: PricingConfig) -> None:
    """Currency and dimension labels shape every series: changing them needs a restart."""
    if new.currency != old.currency:
        raise ConfigError(f"{new.source}: currency: changed from {old.currency} to {new.currency}; "
                          "a new currency needs a restart")
    if dict(new.labels) != dict(old.labels):
        raise ConfigError(f"{new.source}: labels: the dimension labels changed; that needs a restart")
