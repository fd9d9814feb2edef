"""Typed records for the Kubernetes objects gpucost reads.

Each Struct keeps only the fields the cost model needs; msgspec skips every other field while
decoding, so a 5 KB pod costs a few hundred bytes in memory. Field names follow the API's
camelCase on the wire. Quantities stay as the strings (or bare JSON numbers) the API sent;
`gpucost.quantity` parses them, so one malformed quantity spoils one pod, not a whole list.
"""

from __future__ import annotations

from typing import Union

import msgspec

#: A resource quantity as it appears on the wire: "500m", "1.5Gi", or a bare JSON number.
Quantity = Union[str, int, float]
ResourceList = dict[str, Quantity]


class _Base(msgspec.Struct, rename="camel", omit_defaults=True, gc=False):
    """gc=False: these records never form reference cycles, so the cyclic garbage collector
    need not track (and repeatedly traverse) hundreds of thousands of them."""


class OwnerReference(_Base):
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool | None = None


class ObjectMeta(_Base):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    resource_version: str = ""
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: tuple[OwnerReference, ...] | None = None
    deletion_timestamp: str | None = None


class ResourceRequirements(_Base):
    requests: ResourceList | None = None
    limits: ResourceList | None = None


class Container(_Base):
    name: str = ""
    resources: ResourceRequirements | None = None
    restart_policy: str | None = None


class PodResourceClaim(_Base):
    """spec.resourceClaims[]: a claim by name, or one generated from a template."""

    name: str = ""
    resource_claim_name: str | None = None
    resource_claim_template_name: str | None = None


class PodSpec(_Base):
    node_name: str = ""
    containers: tuple[Container, ...] | None = None
    init_containers: tuple[Container, ...] | None = None
    overhead: ResourceList | None = None
    resources: ResourceRequirements | None = None
    resource_claims: tuple[PodResourceClaim, ...] | None = None


class PodCondition(_Base):
    type: str = ""
    status: str = ""
    reason: str = ""


class ContainerStatus(_Base):
    name: str = ""
    allocated_resources: ResourceList | None = None
    resources: ResourceRequirements | None = None


class PodResourceClaimStatus(_Base):
    """status.resourceClaimStatuses[]: the claim generated for a template reference."""

    name: str = ""
    resource_claim_name: str | None = None


class PodExtendedResourceClaimStatus(_Base):
    """status.extendedResourceClaimStatus (DRAExtendedResource): the claim that serves the
    pod's extended-resource requests."""

    resource_claim_name: str = ""


class PodStatus(_Base):
    phase: str = ""
    conditions: tuple[PodCondition, ...] | None = None
    container_statuses: tuple[ContainerStatus, ...] | None = None
    init_container_statuses: tuple[ContainerStatus, ...] | None = None
    resource_claim_statuses: tuple[PodResourceClaimStatus, ...] | None = None
    extended_resource_claim_status: PodExtendedResourceClaimStatus | None = None


class Pod(_Base, kw_only=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PodSpec = msgspec.field(default_factory=PodSpec)
    status: PodStatus = msgspec.field(default_factory=PodStatus)


class NodeSpec(_Base):
    provider_id: str = msgspec.field(default="", name="providerID")
    unschedulable: bool = False


class NodeStatus(_Base):
    capacity: ResourceList | None = None
    allocatable: ResourceList | None = None


class Node(_Base, kw_only=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: NodeSpec = msgspec.field(default_factory=NodeSpec)
    status: NodeStatus = msgspec.field(default_factory=NodeStatus)


class Namespace(_Base, kw_only=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)


class Controller(_Base, kw_only=True):
    """Metadata of an intermediate owner (ReplicaSet, Job): enough to follow the owner chain."""

    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)


# --- Dynamic Resource Allocation (resource.k8s.io v1, v1beta2, v1beta1) ----------------------


class DeviceAttribute(_Base):
    """One typed attribute value: exactly one of the fields is set."""

    string: str | None = None
    integer: Union[int, None] = msgspec.field(default=None, name="int")
    boolean: Union[bool, None] = msgspec.field(default=None, name="bool")
    version: str | None = None


class DeviceCapacity(_Base):
    value: Quantity = 0


class BasicDevice(_Base):
    """v1beta1 wraps a device's attributes and capacity in `basic`."""

    attributes: dict[str, DeviceAttribute] | None = None
    capacity: dict[str, DeviceCapacity] | None = None


class SliceDevice(_Base):
    name: str = ""
    attributes: dict[str, DeviceAttribute] | None = None
    capacity: dict[str, DeviceCapacity] | None = None
    basic: BasicDevice | None = None


class ResourcePool(_Base):
    name: str = ""
    generation: int = 0
    resource_slice_count: int = 0


class ResourceSliceSpec(_Base):
    driver: str = ""
    pool: ResourcePool = msgspec.field(default_factory=ResourcePool)
    node_name: str | None = None
    all_nodes: bool | None = None
    devices: tuple[SliceDevice, ...] | None = None


class ResourceSlice(_Base, kw_only=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ResourceSliceSpec = msgspec.field(default_factory=ResourceSliceSpec)


class DeviceRequestAllocationResult(_Base):
    request: str = ""
    driver: str = ""
    pool: str = ""
    device: str = ""
    admin_access: bool | None = None
    #: DRAConsumableCapacity: what this allocation takes of a shareable device.
    consumed_capacity: ResourceList | None = None
    share_id: str | None = msgspec.field(default=None, name="shareID")


class DeviceAllocationResult(_Base):
    results: tuple[DeviceRequestAllocationResult, ...] | None = None


class AllocationResult(_Base):
    devices: DeviceAllocationResult | None = None


class ResourceClaimConsumerReference(_Base):
    resource: str = ""
    name: str = ""
    uid: str = ""


class ResourceClaimStatus(_Base):
    allocation: AllocationResult | None = None
    reserved_for: tuple[ResourceClaimConsumerReference, ...] | None = None


class ResourceClaim(_Base, kw_only=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    status: ResourceClaimStatus = msgspec.field(default_factory=ResourceClaimStatus)


class TypeMeta(msgspec.Struct, rename="camel"):
    """Just enough of any object to dispatch on its kind."""

    kind: str = ""
    api_version: str = ""


#: The kinds gpucost reads, by the `kind` field on the wire.
KINDS: dict[str, type[msgspec.Struct]] = {
    "Node": Node,
    "Pod": Pod,
    "Namespace": Namespace,
    "ReplicaSet": Controller,
    "Job": Controller,
    "ResourceClaim": ResourceClaim,
    "ResourceSlice": ResourceSlice,
}


def object_name(kind: str, meta: ObjectMeta) -> str:
    """A human name for log lines and error messages: `Pod ml/train-0`, `Node gpu-a-1`."""
    if meta.namespace:
        return f"{kind} {meta.namespace}/{meta.name}"
    return f"{kind} {meta.name}"
