"""Every per-object sample computed afresh from the engine's records: the straightforward way
to produce what the scrape path serves from cached text. Used to check that text (tests) and
as the benchmark's prometheus_client baseline; never on the scrape path."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from .costs import NodeCost, pod_cost
from .records import NodeEntry, PodEntry
from .rendering import NODE_FAMILIES, POD_FAMILIES, node_series
from .workloads import Workloads

Sample = tuple[str, Sequence[tuple[str, str]], float]  # (family, labels, value)


def fresh_series(
    pods: Mapping[str, PodEntry], nodes: Mapping[str, NodeEntry], workloads: Workloads,
    node_cost: Callable[[str], NodeCost], owns: Callable[[str], bool],
) -> Iterator[Sample]:
    """The samples of the pods and nodes `owns` admits, as (family, labels, value); costs are
    hourly, in the pricing's currency. The nodes' rates must be current (flush first)."""
    label_names = ("namespace", "pod", "node", "owner_kind", "owner_name") + workloads.dim_names
    cpu, mem, gpu_cost, gpu = (name for name, _ in POD_FAMILIES)
    for key, entry in pods.items():
        node = nodes.get(entry.node)
        if node is None or node.rates is None or not owns(key):
            continue
        cost = pod_cost(node.rates, entry.cpu_m, entry.memory_b, entry.held_units, entry.gpu_shares)
        owner_kind, owner_name = workloads.workload(entry.group)
        values = (entry.namespace, entry.name, entry.node, owner_kind, owner_name,
                  *workloads.dim_values(entry.group))
        labels = tuple(zip(label_names, values, strict=True))
        yield cpu, labels, cost.cpu
        yield mem, labels, cost.memory
        if cost.gpus:
            yield gpu_cost, labels, cost.gpu
            for res, share in sorted(cost.gpus.items()):
                yield gpu, (*labels, ("resource", res)), share
    for name, node_entry in nodes.items():
        if not owns(name) or node_entry.rates is None:
            continue
        node_samples = node_series(node_entry, node_cost(name))
        for (family, _, _), samples in zip(NODE_FAMILIES, node_samples, strict=True):
            for node_labels, v in samples:
                yield family, node_labels, float(v)
