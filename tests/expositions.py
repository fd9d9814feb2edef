"""Checks any test can run on a Prometheus text exposition."""

from __future__ import annotations

from collections import Counter

from prometheus_client.parser import text_string_to_metric_families


def series_keys(text: str) -> list[tuple[str, frozenset[tuple[str, str]]]]:
    """Every sample's series identity, (name, label set), as Prometheus's parser reads it."""
    return [
        (sample.name, frozenset(sample.labels.items()))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def assert_unique_series(text: str) -> None:
    """No series occurs twice: Prometheus rejects a whole scrape that repeats one
    ("duplicate sample for timestamp"), so one duplicate loses every series of the target."""
    repeated = {key: n for key, n in Counter(series_keys(text)).items() if n > 1}
    assert not repeated, f"duplicate series in the exposition: {repeated}"
