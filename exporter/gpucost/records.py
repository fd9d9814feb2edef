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


class PodGroup(msgspec.Struct, gc=False):
    """The pods of one controller in one namespace with the same dimension labels of their own:
    their series differ only in the pod and node labels. One record per ReplicaSet or Job (not
    per pod) holds the owner and dimensions, so they are stored, resolved through the owner
    chain and rendered once per group rather than once per pod. Made by `group_of`. Not
    tracked by the cyclic garbage collector (it holds no cycles), like PodEntry."""

    key: GroupKey
    namespace: str
    owner_uid: str
    owner_kind: str
    owner_name: str
    dims: tuple[str, ...]
    pods: dict[str, None] = {}  # keys of its pods, an insertion-ordered set (one dict per group)
    #: The labels after `node`, rendered and escaped: `,owner_kind="…",owner_name="…",team="…"`;
    #: None when the owner chain or the namespace's labels changed since (see Workloads).
    text: str | None = None


def group_of(key: GroupKey) -> PodGroup:
    """A new, empty group for these labels."""
    return PodGroup(key, *key)


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


class NodeEntry(msgspec.Struct, gc=False):
    """A node, priced. `rates` are the hourly cost per reserved millicore, byte and GPU. Not
    tracked by the cyclic garbage collector (it holds no cycles)."""

    obj: object  # the Node as last seen, to re-derive inventory and price when a source changes
    name: str
    labels: dict[str, str]
    facts: NodeFacts
    gpus: NodeGpus
    gpu_resources: tuple[str, ...]  # GPU resource names the node advertises
    price: NodePrice
    alloc_cpu_m: int
    alloc_memory_b: int
    instance_type: str
    region: str
    zone: str
    capacity_type: str
    allocators: NodeAllocators  # HAMi devices, GPU memory for KAI memory requests
    dra_gpus: int  # physical GPUs the node publishes in DRA ResourceSlices
    rates: Rates | None = None
    rendered: bool = False  # all its families rendered since this version of the node arrived


_NO_EQUIVALENTS = Fraction(0)


class Reserved(msgspec.Struct, gc=False):
    """Running sums of the reservations of counted pods bound to one node. Not tracked by the
    cyclic garbage collector (it holds no cycles)."""

    cpu_m: int = 0
    memory_b: int = 0
    gpu_units: dict[str, int] = {}  # a dict of its own per node (Struct defaults are copied)
    gpu_shares: Fraction = _NO_EQUIVALENTS  # physical-GPU equivalents reserved other than by units
    pods: dict[str, None] = {}  # an insertion-ordered set: stable output order
    allocated: dict[str, None] = {}  # pods with allocator sources, re-resolved when the node changes
