"""The engine's records: a counted pod and a priced node, reduced to what costing and labelling
need, and the running sums of the reservations on one node."""

from __future__ import annotations

from fractions import Fraction

import msgspec

from .allocators import NodeAllocators
from .costs import Rates
from .gpu import NodeGpus
from .pricing import NodeFacts, NodePrice

_NO_SHARES: dict[str, Fraction] = {}


#: What a pod's series say besides its name and node: (namespace, owner uid, owner kind, owner
#: name, the dimension values found on the pod).
GroupKey = tuple[str, str, str, str, tuple[str, ...]]


class PodGroup:
    """The pods of one controller in one namespace with the same dimension labels of their own:
    their series differ only in the pod and node labels. One record per ReplicaSet or Job (not
    per pod) holds the owner and dimensions, so they are stored, resolved through the owner
    chain and rendered once per group rather than once per pod."""

    __slots__ = ("dims", "key", "namespace", "owner_kind", "owner_name", "owner_uid", "pods", "text")

    def __init__(self, key: GroupKey) -> None:
        self.key = key
        self.namespace, self.owner_uid, self.owner_kind, self.owner_name, self.dims = key
        self.pods: dict[str, None] = {}  # keys of its pods, an insertion-ordered set
        #: The labels after `node`, rendered and escaped: `,owner_kind="…",owner_name="…",team="…"`;
        #: None when the owner chain or the namespace's labels changed since (see Workloads).
        self.text: str | None = None


class PodEntry(msgspec.Struct, gc=False):
    """A counted pod, reduced to what costing and labelling need. Not tracked by the cyclic
    garbage collector (it holds no cycles): at 150,000 pods, full collections would otherwise
    walk every entry again and again while the cluster syncs."""

    key: str  # namespace/name
    block: int  # hash block of the key in every pod family
    group: PodGroup
    node: str = ""
    cpu_m: int = 0
    memory_b: int = 0
    gpu_units: dict[str, int] = {}  # device-plugin GPU resource name -> units requested
    #: How the pod gets GPUs other than by device-plugin units (DRA claims, HAMi vGPUs, KAI
    #: fractions), as read from the object; resolved against its node into the two below.
    gpu_sources: tuple[object, ...] = ()
    #: Device-plugin units as added to the node's sums (gpu_units, less those an allocator
    #: accounts for: HAMi vGPUs, a KAI reservation pod's GPU).
    held_units: dict[str, int] = {}
    #: Physical-GPU equivalents held through allocators, by the `resource` label they are
    #: reported under, as added to the node's sums.
    gpu_shares: dict[str, Fraction] = _NO_SHARES

    @property
    def namespace(self) -> str:
        return self.group.namespace

    @property
    def name(self) -> str:
        """The pod's name: the key after its namespace (not stored twice, at 150,000 pods)."""
        return self.key[len(self.group.namespace) + 1:]


class NodeEntry:
    """A node, priced. `rates` are the hourly cost per reserved millicore, byte and GPU."""

    __slots__ = (
        "alloc_cpu_m",
        "alloc_memory_b",
        "allocators",
        "capacity_type",
        "dra_gpus",
        "facts",
        "gpu_resources",
        "gpus",
        "instance_type",
        "labels",
        "name",
        "obj",
        "price",
        "rates",
        "region",
        "rendered",
        "zone",
    )
    obj: object  # the Node as last seen, to re-derive inventory and price when a source changes
    name: str
    labels: dict[str, str]
    facts: NodeFacts
    gpus: NodeGpus
    gpu_resources: tuple[str, ...]  # GPU resource names the node advertises
    price: NodePrice
    alloc_cpu_m: int
    alloc_memory_b: int
    rates: Rates | None
    rendered: bool  # all its families rendered since this version of the node arrived
    instance_type: str
    region: str
    zone: str
    capacity_type: str
    allocators: NodeAllocators  # HAMi devices, GPU memory for KAI memory requests
    dra_gpus: int  # physical GPUs the node publishes in DRA ResourceSlices


class Reserved:
    """Running sums of the reservations of counted pods bound to one node."""

    __slots__ = ("allocated", "cpu_m", "gpu_shares", "gpu_units", "memory_b", "pods")

    def __init__(self) -> None:
        self.cpu_m = 0
        self.memory_b = 0
        self.gpu_units: dict[str, int] = {}
        self.gpu_shares = Fraction(0)  # physical-GPU equivalents reserved other than by units
        self.pods: dict[str, None] = {}  # an insertion-ordered set: stable output order
        self.allocated: dict[str, None] = {}  # pods with allocator sources, re-resolved when the node changes
