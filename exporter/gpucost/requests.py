"""A pod's effective resource requests, as the kube-scheduler accounts them.

This follows k8s.io/component-helpers/resource PodRequests (Kubernetes 1.37): containers are
summed; init containers take a maximum in which restartable init containers (sidecars) add to
both the running sum and every later candidate; pod-level requests replace the container
aggregate for cpu, memory and hugepages; spec.overhead is added last. In-place resize is
honoured by charging, per resource, the largest of the aggregates built from the spec, from
status.allocatedResources and from status.resources (the spec is dropped while a resize is
pending as Infeasible).

Amounts are nano-units (see `gpucost.quantity`). Before aggregation every container gets the
API server's defaulting: a limit without a request implies the request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from .objects import Container, ContainerStatus, Pod, ResourceList
from .quantity import QuantityError, parse_quantity

Amounts = dict[str, int]

_POD_LEVEL_PREFIXES = ("hugepages-",)
_POD_LEVEL_NAMES = frozenset({"cpu", "memory"})


class RequestError(ValueError):
    """A pod whose requests cannot be computed; the message names the field and value."""


def _is_pod_level(name: str) -> bool:
    return name in _POD_LEVEL_NAMES or name.startswith(_POD_LEVEL_PREFIXES)


_parsed: dict[object, int] = {}  # quantity text -> nano-units; quantities repeat a lot


def parse_resource_list(resources: ResourceList | None, where: str) -> Amounts:
    """Parse a ResourceList into nano-units; `where` names the field for error messages."""
    if not resources:
        return {}
    try:  # fast path: every quantity seen before (only valid, non-negative texts are cached)
        return {name: _parsed[raw] for name, raw in resources.items()}
    except KeyError:
        pass
    out: Amounts = {}
    for name, raw in resources.items():
        try:
            amount = parse_quantity(raw)
        except QuantityError as exc:
            raise RequestError(f"{where}[{name}]: {exc}") from None
        if amount < 0:
            raise RequestError(f"{where}[{name}]: negative quantity {raw!r}")
        if raw.__class__ is str and len(_parsed) < 65536:
            _parsed[raw] = amount
        out[name] = amount
    return out


def container_requests(container: Container, where: str) -> Amounts:
    """Requests after API-server defaulting: each limit fills a missing request."""
    res = container.resources
    if res is None:
        return {}
    requests = parse_resource_list(res.requests, f"{where}.resources.requests")
    limits = res.limits
    if limits and not limits.keys() <= requests.keys():  # only missing requests need the limit
        missing = {name: raw for name, raw in limits.items() if name not in requests}
        requests.update(parse_resource_list(missing, f"{where}.resources.limits"))
    return requests


def _add(into: Amounts, other: Mapping[str, int]) -> None:
    for name, amount in other.items():
        into[name] = into.get(name, 0) + amount


def _max_into(into: Amounts, other: Mapping[str, int]) -> None:
    for name, amount in other.items():
        if amount > into.get(name, -1):
            into[name] = amount


def aggregate(
    containers: Iterable[Amounts], init_containers: Iterable[tuple[Amounts, bool]]
) -> Amounts:
    """Containers summed, then the init-container maximum with sidecars (restartable=True)."""
    total: Amounts = {}
    for amounts in containers:
        _add(total, amounts)
    init_max: Amounts = {}
    sidecars: Amounts = {}
    for amounts, restartable in init_containers:
        if restartable:
            _add(total, amounts)
            _add(sidecars, amounts)
            candidate = dict(sidecars)
        else:
            candidate = dict(amounts)
            _add(candidate, sidecars)
        _max_into(init_max, candidate)
    _max_into(total, init_max)
    return total


ContainerSource = Callable[[Container, ContainerStatus | None, str], Amounts | None]


def _by_name(statuses: Sequence[ContainerStatus] | None) -> dict[str, ContainerStatus]:
    return {s.name: s for s in statuses or ()}


def _aggregate_from(pod: Pod, source: ContainerSource) -> Amounts | None:
    """Aggregate with each container's requests taken from `source`; None when no container
    has that source (e.g. no status yet)."""
    spec, status = pod.spec, pod.status
    statuses = _by_name(status.container_statuses)
    init_statuses = _by_name(status.init_container_statuses)
    seen = False
    regular: list[Amounts] = []
    for i, c in enumerate(spec.containers or ()):
        amounts = source(c, statuses.get(c.name), f"spec.containers[{i}]")
        if amounts is not None:
            seen = True
            regular.append(amounts)
    inits: list[tuple[Amounts, bool]] = []
    for i, c in enumerate(spec.init_containers or ()):
        amounts = source(c, init_statuses.get(c.name), f"spec.initContainers[{i}]")
        if amounts is not None:
            seen = True
            inits.append((amounts, c.restart_policy == "Always"))
    return aggregate(regular, inits) if seen else None


def _from_spec(c: Container, _s: ContainerStatus | None, where: str) -> Amounts:
    return container_requests(c, where)


def _from_allocated(c: Container, s: ContainerStatus | None, where: str) -> Amounts | None:
    if s is None or s.allocated_resources is None:
        return None
    return parse_resource_list(s.allocated_resources, f"{where}.status.allocatedResources")


def _from_actual(c: Container, s: ContainerStatus | None, where: str) -> Amounts | None:
    if s is None or s.resources is None or s.resources.requests is None:
        return None
    return parse_resource_list(s.resources.requests, f"{where}.status.resources.requests")


def _resize_infeasible(pod: Pod) -> bool:
    return any(
        c.type == "PodResizePending" and c.reason == "Infeasible"
        for c in pod.status.conditions or ()
    )


def _spec_aggregate(pod: Pod) -> Amounts:
    spec = pod.spec
    if spec.init_containers:
        return aggregate(
            (container_requests(c, f"spec.containers[{i}]") for i, c in enumerate(spec.containers or ())),
            (
                (container_requests(c, f"spec.initContainers[{i}]"), c.restart_policy == "Always")
                for i, c in enumerate(spec.init_containers)
            ),
        )
    total: Amounts = {}
    for i, c in enumerate(spec.containers or ()):
        _add(total, container_requests(c, f"spec.containers[{i}]"))
    return total


def _pairs_differ(containers: Sequence[Container], statuses: Sequence[ContainerStatus]) -> bool:
    """Whether any status may report requests other than its container's spec, as written."""
    if len(containers) != len(statuses):
        return True
    for c, s in zip(containers, statuses, strict=True):  # the kubelet keeps spec order
        res = c.resources
        requests = res.requests if res is not None else None
        if c.name != s.name or (res is not None and res.limits and not res.limits.keys() <= (requests or {}).keys()):
            return True  # out of order, or requests defaulted from limits: compare parsed amounts
        if s.allocated_resources is not None and s.allocated_resources != requests:
            return True
        actual = s.resources
        if actual is not None and actual.requests is not None and actual.requests != requests:
            return True
    return False


def _status_may_differ(pod: Pod) -> bool:
    """False when the resize status cannot change the result: no resize is pending and every
    allocated or actual request in the status is the spec's request, as written."""
    status = pod.status
    if not status.container_statuses and not status.init_container_statuses:
        return False
    if status.conditions and any(c.type == "PodResizePending" for c in status.conditions):
        return True
    spec = pod.spec
    if _pairs_differ(spec.containers or (), status.container_statuses or ()):
        return True
    inits = spec.init_containers or ()
    return bool(inits or status.init_container_statuses) and _pairs_differ(inits, status.init_container_statuses or ())


_NONE: Mapping[str, int] = {}  # a container without requests (read, never written)


def _simple_container(c: Container, s: ContainerStatus | None) -> Mapping[str, int] | None:
    """One container's requests from the parse cache, or None when the general path must
    decide: a status that reports other requests than the spec wrote (or is out of order), a
    limit standing in for a missing request, or a quantity not seen before."""
    res = c.resources
    requests = res.requests if res is not None else None
    if s is not None:
        if s.name != c.name:
            return None
        allocated = s.allocated_resources
        if allocated is not None and allocated != requests:
            return None
        actual = s.resources
        if actual is not None and actual.requests is not None and actual.requests != requests:
            return None
    if res is None:
        return _NONE
    limits = res.limits
    if limits and (requests is None or not limits.keys() <= requests.keys()):
        return None
    if not requests:
        return _NONE
    parsed = _parsed
    out: Amounts = {}
    for name, raw in requests.items():
        amount = parsed.get(raw)
        if amount is None:
            return None  # first sight of this text (or a bare number): parse it there
        out[name] = amount
    return out


def _simple_requests(pod: Pod) -> Amounts | None:
    """The requests of the common pod in one pass, or None when the general path must decide:
    no pod-level resources or overhead (checked by the caller); every quantity seen before; no
    limit standing in for a missing request; no resize pending; and the status, where there is
    one, reports each container's spec requests as written. Then the result is what the general
    path computes from the spec alone: the containers summed, sidecars added, the init-container
    maximum taken. This runs for every pod of every sync and watch event, so it avoids the
    general path's per-container calls and intermediate aggregates."""
    status = pod.status
    conditions = status.conditions
    if conditions:
        for condition in conditions:
            if condition.type == "PodResizePending":
                return None
    spec = pod.spec
    containers = spec.containers or ()
    statuses = status.container_statuses
    if statuses is not None and len(statuses) != len(containers):
        return None
    total: Amounts = {}
    parsed = _parsed
    for i, c in enumerate(containers):  # inline: most pods have one to three containers
        res = c.resources
        requests = res.requests if res is not None else None
        if statuses is not None:
            s = statuses[i]  # the kubelet keeps spec order
            if s.name != c.name:
                return None
            allocated = s.allocated_resources
            if allocated is not None and allocated != requests:
                return None
            actual = s.resources
            if actual is not None and actual.requests is not None and actual.requests != requests:
                return None
        if res is None:
            continue
        limits = res.limits
        if limits and (requests is None or not limits.keys() <= requests.keys()):
            return None
        if requests:
            for name, raw in requests.items():
                amount = parsed.get(raw)
                if amount is None:
                    return None
                total[name] = total.get(name, 0) + amount
    inits = spec.init_containers
    init_statuses = status.init_container_statuses
    if not inits:
        return None if init_statuses else total
    if init_statuses is None:
        if statuses is not None:
            return None  # a status without the init containers': let the general path compare
    elif len(init_statuses) != len(inits):
        return None
    # The init-container maximum (as `aggregate`): a sidecar (restartPolicy Always) adds to the
    # running total and to every later init container's candidate.
    init_max: Amounts = {}
    sidecars: Amounts = {}
    for i, c in enumerate(inits):
        amounts = _simple_container(c, init_statuses[i] if init_statuses is not None else None)
        if amounts is None:
            return None
        if c.restart_policy == "Always":
            for name, amount in amounts.items():
                total[name] = total.get(name, 0) + amount
                sidecars[name] = sidecars.get(name, 0) + amount
            candidate: Mapping[str, int] = sidecars
        elif sidecars:
            combined = dict(amounts)
            _add(combined, sidecars)
            candidate = combined
        else:
            candidate = amounts
        _max_into(init_max, candidate)
    _max_into(total, init_max)
    return total


#: The one-pass path by itself, for the engine's hot loop: what `pod_requests(pod)` returns
#: when the pod has no pod-level resources or overhead, or None when it must decide.
simple_requests = _simple_requests


def pod_requests(
    pod: Pod,
    *,
    use_status: bool = True,
    skip_pod_level: bool = False,
    exclude_overhead: bool = False,
) -> Amounts:
    """Effective requests of a pod in nano-units per resource name.

    The defaults are the exporter's: in-place resize status honoured, pod-level resources
    honoured, overhead included. A resource that no container names is absent, not zero.
    Raises RequestError naming the field for a malformed or negative quantity.
    """
    spec = pod.spec
    if use_status and spec.resources is None and not spec.overhead:
        simple = _simple_requests(pod)
        if simple is not None:
            return simple
    result = _spec_aggregate(pod)
    if use_status and _status_may_differ(pod):
        candidates = [] if _resize_infeasible(pod) else [result]
        for source in (_from_allocated, _from_actual):
            agg = _aggregate_from(pod, source)
            if agg is not None:
                candidates.append(agg)
        result = {}
        for agg in candidates or [_spec_aggregate(pod)]:
            _max_into(result, agg)
    if spec.resources is not None and not skip_pod_level:
        pod_level = container_requests(Container(resources=spec.resources), "spec")
        for name, amount in pod_level.items():
            if _is_pod_level(name):
                result[name] = amount
    if spec.overhead and not exclude_overhead:
        _add(result, parse_resource_list(spec.overhead, "spec.overhead"))
    return result
