"""The Kubernetes API source's entry point: one list/watch loop (kubeapi.ResourceWatch) per
watched resource, resource.k8s.io discovered before its claims and slices are watched, and the
watches' counters and readiness as metric families."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import kubernetes.client

from gpucost.exposition import MetricFamily
from gpucost.kubeapi import (
    DEFAULT_RESOURCES,
    RESOURCES,
    ObjectSink,
    Resource,
    ResourceWatch,
    WatchSettings,
    WatchStats,
    describe_error,
    dra_resources,
)
from gpucost.kubeclient import DRA_GROUP, ApiClient, discover_dra_version

#: The source's log, as before the split: operators filter on it.
log = logging.getLogger("gpucost.kubeapi")
_DEFAULT_SETTINGS = WatchSettings()  # frozen

class ClusterWatcher:
    """Keep `sink` in step with the cluster: one list/watch loop per resource.

    `node_name` selects DaemonSet mode: only that node and the pods bound to it are watched
    (field selectors), while namespaces, ReplicaSets and Jobs stay cluster-wide because owner
    chains cross nodes.
    """

    def __init__(
        self,
        sink: ObjectSink,
        config: kubernetes.client.Configuration,
        node_name: str | None = None,
        resources: Sequence[str] = DEFAULT_RESOURCES,
        settings: WatchSettings = _DEFAULT_SETTINGS,
        dra: bool = True,
    ) -> None:
        unknown = [r for r in resources if r not in RESOURCES]
        if unknown:
            raise ValueError(f"unknown resources {unknown}; known: {', '.join(RESOURCES)}")
        self._api = ApiClient(config)
        self._sink = sink
        self._node_name = node_name
        self._settings = settings
        self._watches: list[ResourceWatch] = []
        for name in resources:
            self._add_watch(RESOURCES[name])
        #: DRA: None until discovery answered, then the served version ("" when none).
        self.dra_version: str | None = None if dra else ""

    def _add_watch(self, resource: Resource) -> ResourceWatch:
        selector = None
        if self._node_name and resource.node_field:
            selector = f"{resource.node_field}={self._node_name}"
        watch = ResourceWatch(resource, self._sink, self._api, self._settings, selector)
        self._watches.append(watch)
        return watch

    async def run(self) -> None:
        """Watch until cancelled. Errors are logged, counted and retried; none ends the run."""
        await self._api.open()
        try:
            await asyncio.gather(*(w.run() for w in list(self._watches)), self._run_dra())
        finally:
            await self._api.close()

    async def _run_dra(self) -> None:
        """Find which resource.k8s.io version the server serves, then watch its claims and
        slices; a cluster without DRA is told once in the log and never asked again."""
        failures = 0
        while self.dra_version is None:
            try:
                version = await discover_dra_version(self._api, self._settings.list_timeout_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # retried like a failed list: the API may be starting
                failures += 1
                log.warning("resource.k8s.io discovery failed (%s); retrying", describe_error(exc))
                await asyncio.sleep(min(self._settings.backoff_max_s, self._settings.backoff_initial_s * 2 ** failures))
                continue
            if version is None:
                log.info("The API server serves no resource.k8s.io version: GPUs allocated through DRA are not costed")
                self.dra_version = ""
                return
            self.dra_version = version
            log.info("Watching DRA claims and slices at %s/%s", DRA_GROUP, version)
            watches = [self._add_watch(r) for r in dra_resources(version)]
            await asyncio.gather(*(w.run() for w in watches))

    def synced(self) -> bool:
        """True once every watched resource has completed its first list (readiness), DRA
        discovery included."""
        return self.dra_version is not None and all(w.stats.synced for w in self._watches)

    def stats(self) -> dict[str, WatchStats]:
        return {w.resource.name: w.stats for w in self._watches}

    def metric_families(self) -> Iterator[MetricFamily]:
        """Self-metrics of the watches, label `resource` (nodes, pods, ...)."""
        watches = self._watches

        def per_resource(value: Any) -> list[tuple[tuple[tuple[str, str], ...], float]]:
            return [((("resource", w.resource.name),), float(value(w.stats))) for w in watches]

        yield MetricFamily(
            "gpucost_watch_events_total",
            "counter",
            "Watch events received, by resource and event type.",
            [
                ((("resource", w.resource.name), ("type", t)), float(n))
                for w in watches
                for t, n in w.stats.events.items()
            ],
        )
        yield MetricFamily(
            "gpucost_watch_restarts_total",
            "counter",
            "Watches started again, by reason: closed (ended by the server), gone (410, a "
            "relist follows), error, stalled (no data, not even bookmarks), malformed.",
            [
                ((("resource", w.resource.name), ("reason", r)), float(n))
                for w in watches
                for r, n in w.stats.restarts.items()
            ],
        )
        yield MetricFamily(
            "gpucost_watch_relists_total",
            "counter",
            "Full lists after the first one, needed when the watch history was compacted.",
            per_resource(lambda s: s.relists),
        )
        yield MetricFamily(
            "gpucost_watch_decode_errors_total",
            "counter",
            "Objects or watch lines that could not be decoded and were skipped.",
            per_resource(lambda s: s.decode_errors),
        )
        yield MetricFamily(
            "gpucost_watch_last_sync_timestamp_seconds",
            "gauge",
            "Unix time the resource was last known current: a list completed, or a watch "
            "event or bookmark arrived. 0 before the first list.",
            per_resource(lambda s: s.last_sync),
        )
        yield MetricFamily(
            "gpucost_watch_synced",
            "gauge",
            "1 once the resource's first list has completed.",
            per_resource(lambda s: 1 if s.synced else 0),
        )
