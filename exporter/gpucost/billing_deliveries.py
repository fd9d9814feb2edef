"""Which files of a billing export directory hold its current delivery.

Providers deliver an export again and again: AWS Data Exports refresh the current billing
period at least daily, Azure Cost Management runs a scheduled export every day. Delivered with
"overwrite", a period's folder holds the latest refresh only. Delivered the other way (AWS
"Create new data export file", Azure `CreateNewReport`, the Azure API's default), every
refresh stays in a folder of its own, and reading them all would count each charge once per
refresh. So, in the layouts the providers document, one delivery of each period is read:

AWS Data Exports (docs.aws.amazon.com/cur/latest/userguide/dataexports-export-delivery.html)::

    <export>/data/BILLING_PERIOD=2026-11/<export>-00001.csv.gz                 overwrite
    <export>/data/BILLING_PERIOD=2026-11/<timestamp>-<executionId>/<export>-00001.csv.gz
    <export>/metadata/BILLING_PERIOD=2026-11/<export>-Manifest.json            the latest refresh
    <export>/metadata/BILLING_PERIOD=2026-11/<timestamp>-<executionId>/<export>-Manifest.json

Azure Cost Management exports (learn.microsoft.com/azure/cost-management-billing/costs/
tutorial-export-acm-data)::

    <directory>/<export>/20261101-20261130/<runId>/part_0_0001.csv.gz and manifest.json

A manifest is delivered after the data files it lists (AWS says so; Azure calls it the run's
summary). The delivery read in a period's folder (the `BILLING_PERIOD=` partition, the
`YYYYMMDD-YYYYMMDD` month) is, first that applies:

1. the one the partition's own AWS manifest names (`executionId`), if its files are all here;
2. the newest whose manifest lists files that are all here;
3. the newest with a manifest at all (some of its files still on their way: a warning);
4. the newest, when no delivery of the period has a manifest (the metadata not synced).

"Newest" is the delivery's time: the timestamp in an AWS execution folder's name, a manifest's
`runInfo.submittedTime` for Azure, else the files' latest modification. Any folder inside an
AWS partition is a refresh, whatever its name: its timestamp's format is AWS's to change. A delivery with a
manifest is read for the files the manifest lists (`dataFiles`, `blobs[].blobName`, by file
name): AWS fills chunks an overwrite no longer needs with empty data, and neither provider
promises that a folder holds nothing else. Files outside these layouts are all read.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .billing_rows import epoch

_PARTITION = re.compile(r"billing_period=\d{4}-\d{2}", re.IGNORECASE)
_EXECUTION = re.compile(r"(\d{4}-\d{2}-\d{2}T[0-9:.]+Z?)-(.+)")
_MONTH = re.compile(r"\d{8}-\d{8}")
#: A manifest lists a delivery's files and columns: a few KiB. Past this it is refused unread:
#: decoded, JSON of many small objects takes some twenty times its size in memory.
_MAX_MANIFEST = 4 << 20


def is_manifest(p: Path) -> bool:
    """AWS `<export>-Manifest.json` and Azure `manifest.json`."""
    return p.name.lower().endswith("manifest.json")


@dataclass
class Delivery:
    """One refresh of one period: a folder's export files."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    time: float = 0.0
    manifest: Path | None = None
    listed: frozenset[str] | None = None  # the file names its manifest lists

    def missing(self) -> list[str]:
        return sorted(self.listed - {f.name for f in self.files}) if self.listed else []

    def complete(self) -> bool:
        return self.manifest is not None and not self.missing()

    def read(self) -> list[Path]:
        """The files to read: those the manifest lists, or all when it lists none of them."""
        if not self.listed:
            return self.files
        return [f for f in self.files if f.name in self.listed] or self.files


@dataclass
class Selection:
    """The files to read, and what was passed over and why (logging level, message)."""

    files: list[Path]
    passed_over: list[Path] = field(default_factory=list)
    manifests_unreadable: int = 0
    missing: int = 0  # files the manifests of the deliveries read list, and the directory lacks
    notes: list[tuple[int, str]] = field(default_factory=list)


class _Manifests:
    """Manifests read once each; an unreadable one is noted and taken as absent."""

    def __init__(self, selection: Selection) -> None:
        self.selection = selection
        self._seen: dict[Path, dict[str, object] | None] = {}

    def in_folder(self, folder: Path) -> list[tuple[Path, dict[str, object]]]:
        try:
            paths = sorted(p for p in folder.iterdir() if p.is_file() and is_manifest(p))
        except OSError:
            return []
        return [(p, doc) for p in paths if (doc := self.read(p)) is not None]

    def read(self, p: Path) -> dict[str, object] | None:
        if p not in self._seen:
            try:
                if p.stat().st_size > _MAX_MANIFEST:
                    raise ValueError(f"larger than {_MAX_MANIFEST >> 20} MiB")
                doc = json.loads(p.read_bytes())
                if not isinstance(doc, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError, RecursionError) as exc:  # RecursionError: nested too deep
                self.selection.manifests_unreadable += 1
                self.selection.notes.append((logging.WARNING, f"{p}: billing export manifest ignored: {exc}"))
                doc = None
            self._seen[p] = doc
        return self._seen[p]


def _names(entries: object, key: str | None = None) -> frozenset[str] | None:
    """File names of a manifest's list of paths or URIs (`dataFiles`), or of objects (`blobs`)."""
    if not isinstance(entries, list):
        return None
    names = set()
    for e in entries:
        value = e.get(key) if key and isinstance(e, dict) else e
        if isinstance(value, str) and value.strip():
            names.add(value.strip().replace("\\", "/").rsplit("/", 1)[-1].strip())
    return frozenset(names) or None


def _time(text: object) -> float | None:
    try:
        return epoch(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _newest_mtime(files: Iterable[Path]) -> float:
    times = []
    for f in files:
        try:
            times.append(f.stat().st_mtime)
        except OSError:
            pass
    return max(times, default=0.0)


def _place(f: Path) -> tuple[Path, Path, str] | None:
    """(period folder, delivery folder, provider) of a file in a documented layout."""
    parent = f.parent
    if _PARTITION.fullmatch(parent.name):
        return parent, parent, "aws"
    if _PARTITION.fullmatch(parent.parent.name):  # a "create new" refresh, however its folder is named
        return parent.parent, parent, "aws"
    for up in (parent, parent.parent, parent.parent.parent):
        if _MONTH.fullmatch(up.name):
            return up, parent, "azure"
    return None


def select(files: list[Path]) -> Selection:
    """The export files to read (in the given order) and those of other deliveries passed over."""
    periods: dict[Path, tuple[str, dict[Path, Delivery]]] = {}
    outside: list[Path] = []
    for f in files:
        placed = _place(f)
        if placed is None:
            outside.append(f)
            continue
        period, folder, provider = placed
        deliveries = periods.setdefault(period, (provider, {}))[1]
        deliveries.setdefault(folder, Delivery(folder)).files.append(f)
    selection = Selection([])
    manifests = _Manifests(selection)
    chosen: set[Path] = set(outside)
    for period, (provider, deliveries) in periods.items():
        named = _describe_aws(period, deliveries, manifests) if provider == "aws" else None
        if provider == "azure":
            _describe_azure(deliveries, manifests)
        best = _choose(list(deliveries.values()), named)
        chosen.update(best.read())
        for f in best.files:
            if f not in chosen:
                selection.notes.append((logging.INFO, f"{f}: passed over: not listed in {best.manifest}"))
        if missing := best.missing():
            selection.missing += len(missing)
            names = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
            selection.notes.append((logging.WARNING, (
                f"{best.folder}: {len(missing)} of the files {best.manifest} lists are not here ({names}): "
                "a copy under way? prices from the files present")))
        if len(deliveries) > 1:  # one line a period: a year of daily refreshes is 365 deliveries
            arriving = sum(d.manifest is None and d.time > best.time for d in deliveries.values())
            older = len(deliveries) - 1 - arriving
            selection.notes.append((logging.INFO, (
                f"{period}: billing export delivery {best.folder.name} read; passed over {older} superseded"
                + (f" and {arriving} newer without a manifest yet (under way?)" if arriving else ""))))
    selection.files = [f for f in files if f in chosen]
    selection.passed_over = [f for f in files if f not in chosen]
    return selection


def _describe_aws(period: Path, deliveries: dict[Path, Delivery], manifests: _Manifests) -> str | None:
    """Times and manifests of an AWS partition's deliveries; the executionId of the refresh the
    partition's own manifest describes (the latest), which also vouches for that refresh's
    folder when the folder's own manifest is not here."""
    export = period.parent.parent if period.parent.name.lower() == "data" else None
    metadata = export / "metadata" / period.name if export is not None else None
    latest = manifests.in_folder(metadata)[-1:] if metadata is not None else []
    named = next((str(doc["executionId"]) for _, doc in latest if isinstance(doc.get("executionId"), str)), None)
    for d in deliveries.values():
        refresh = d.folder != period
        m = _EXECUTION.fullmatch(d.folder.name) if refresh else None
        d.time = (_time(m[1]) if m else None) or _newest_mtime(d.files)
        if metadata is None:
            continue
        own = manifests.in_folder(metadata / d.folder.name) if refresh else []
        if not own and latest and (not refresh or _names_refresh(d.folder, named)):
            own = latest  # overwrite mode, or the refresh the partition's manifest describes
        if own:
            d.manifest, doc = own[-1]
            d.listed = _names(doc.get("dataFiles"))
    return named


def _names_refresh(folder: Path, execution_id: str | None) -> bool:
    """Whether an AWS refresh folder (`<timestamp>-<executionId>`) is the execution's."""
    return bool(execution_id) and (folder.name == execution_id or folder.name.endswith(f"-{execution_id}"))


def _describe_azure(deliveries: dict[Path, Delivery], manifests: _Manifests) -> None:
    """Times and manifests of an Azure month's runs."""
    for d in deliveries.values():
        found = manifests.in_folder(d.folder)
        submitted = None
        if found:
            d.manifest, doc = found[-1]
            d.listed = _names(doc.get("blobs"), "blobName")
            run = doc.get("runInfo")
            submitted = _time(run.get("submittedTime")) if isinstance(run, dict) else None
        d.time = submitted or _newest_mtime(d.files)


def _choose(deliveries: list[Delivery], named: str | None) -> Delivery:
    newest = sorted(deliveries, key=lambda d: (d.time, str(d.folder)), reverse=True)
    if named:
        for d in newest:
            if _names_refresh(d.folder, named) and d.complete():
                return d
    for candidates in ([d for d in newest if d.complete()], [d for d in newest if d.manifest is not None]):
        if candidates:
            return candidates[0]
    return newest[0]
