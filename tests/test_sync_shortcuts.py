"""The cold sync's shortcuts (issue 16) change how often things are worked out, never what:
node GPU inventories kept by the inputs that decide them, list prices by node shape, cost
texts reused across pods, gzip members from ISA-L with zlib as the fallback, and the
ReplicaSet relist's own loop. Each test puts a cluster in and checks the figures by hand."""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import gpucost.nodeinfo
from gpucost import exposition
from gpucost.platforms import GPU_LABEL_KEYS, GPU_LABEL_PREFIXES, gpu_label_items, read_gpu_labels
from gpucost.pricing_file import parse_pricing

from builders import container, controller, decode, engine, exact, namespace, node, pod
from platform_nodes import (
    aks_nd96asr_mig1g,
    amd_mi300x_cpx,
    bottlerocket_p5_shared,
    gfd_old_names,
    gke_mig,
    gke_timeshared_l4,
    gke_timeshared_n1_t4,
    intel_max_1550_shared,
    karpenter_p4d_plugin_down,
)

PRICING = """
builtin_catalog: false
default: {cpu_core_hour: 0.05, memory_gib_hour: 0.005, gpu_hour: 2.0}
gpu_models:
  NVIDIA-A100-SXM4-40GB: 3.0
"""


def gfd_node(name: str, timestamp: str, replicas: int | None = None) -> dict[str, Any]:
    """A node labelled by NVIDIA GPU Feature Discovery: the labels its README lists under
    "Generated Labels" (nvidia.com/cuda.*, gfd.timestamp, gpu.compute.*, gpu.count, gpu.family,
    gpu.machine, gpu.memory, gpu.product), plus the hostname every kubelet sets. The timestamp
    and hostname differ per node; nothing that prices the node reads them."""
    labels = {
        "kubernetes.io/hostname": name,
        "nvidia.com/cuda.driver.major": "455",
        "nvidia.com/cuda.driver.minor": "06",
        "nvidia.com/cuda.runtime.major": "11",
        "nvidia.com/cuda.runtime.minor": "1",
        "nvidia.com/gfd.timestamp": timestamp,
        "nvidia.com/gpu.compute.major": "8",
        "nvidia.com/gpu.compute.minor": "0",
        "nvidia.com/gpu.count": "1",
        "nvidia.com/gpu.family": "ampere",
        "nvidia.com/gpu.machine": "NVIDIA DGX-2H",
        "nvidia.com/gpu.memory": "39538",
        "nvidia.com/gpu.product": "A100-SXM4-40GB",
    }
    units = 1
    if replicas:  # GFD's time-slicing labels (gpu-operator docs, "GPU sharing")
        labels["nvidia.com/gpu.replicas"] = str(replicas)
        units = replicas
    return node(name, cpu="8", memory="32Gi", labels=labels, extra={"nvidia.com/gpu": str(units)})


PUBLISHED = [
    gfd_node("gfd-0", "1594644571"),
    gfd_node("gfd-ts", "1594644571", replicas=4),
    gke_timeshared_l4(),
    gke_timeshared_n1_t4(2, 4),
    gke_mig("gke-mig", "nvidia-tesla-a100", "a2-highgpu-2g", "1g.5gb", 14, cpu="24", memory="170Gi"),
    bottlerocket_p5_shared(),
    karpenter_p4d_plugin_down(),
    aks_nd96asr_mig1g(),
    amd_mi300x_cpx("single"),
    amd_mi300x_cpx("mixed"),
    gfd_old_names("old-gfd", "Tesla-T4", 4),
    intel_max_1550_shared(4),
]


class _Recording(dict[str, str]):
    """Labels that remember every key looked up by name."""

    def __init__(self, labels: dict[str, str]) -> None:
        super().__init__(labels)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return dict(obj["metadata"]["labels"])


@pytest.mark.parametrize("published", PUBLISHED, ids=lambda n: n["metadata"]["name"])
def test_every_label_the_platform_readers_read_is_declared(published: dict[str, Any]) -> None:
    # Inventories are kept by gpu_label_items: a label read but not declared would let two
    # nodes that differ in it share one inventory.
    labels = _Recording(_labels(published))
    read_gpu_labels(labels)
    undeclared = {k for k in labels.asked if k not in GPU_LABEL_KEYS and not k.startswith(GPU_LABEL_PREFIXES)}
    assert undeclared == set()


@pytest.mark.parametrize("published", PUBLISHED, ids=lambda n: n["metadata"]["name"])
def test_the_declared_labels_alone_read_the_same(published: dict[str, Any]) -> None:
    labels = _labels(published)
    assert read_gpu_labels(dict(gpu_label_items(labels))) == read_gpu_labels(labels)


def test_gfd_timestamp_and_hostname_are_not_gpu_labels() -> None:
    a, b = _labels(gfd_node("gfd-a", "1594644571")), _labels(gfd_node("gfd-b", "1700000000"))
    assert gpu_label_items(a) == gpu_label_items(b)
    assert ("nvidia.com/gpu.product", "A100-SXM4-40GB") in gpu_label_items(a)


@pytest.fixture
def inventories_worked_out(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The node names whose GPU inventory was worked out (not found kept)."""
    worked: list[str] = []
    real = gpucost.nodeinfo.node_gpus

    def counting(labels: Any, *args: Any, **kwargs: Any) -> Any:
        worked.append(labels.get("kubernetes.io/hostname", "?"))
        return real(labels, *args, **kwargs)

    monkeypatch.setattr(gpucost.nodeinfo, "node_gpus", counting)
    yield worked


def node_cost(s: Any, name: str) -> dict[str, float]:
    return dict(s.node_cost(name).cost)


def test_nodes_of_one_shape_share_one_inventory_and_cost_the_same(inventories_worked_out: list[str]) -> None:
    # Each node: 8 cores x 0.05 = 0.4, 32 GiB x 0.005 = 0.16, 1 A100 40GB x 3.0 = 3.0.
    s = engine([gfd_node("gfd-a", "1594644571"), gfd_node("gfd-b", "1700000000"),
                gfd_node("gfd-c", "1594644571", replicas=4)], PRICING)
    assert inventories_worked_out == ["gfd-a", "gfd-c"]  # gfd-b has gfd-a's shape
    for name in ("gfd-a", "gfd-b", "gfd-c"):
        assert node_cost(s, name) == {"cpu": exact(0.4), "memory": exact(0.16), "gpu": exact(3.0)}
    # A time-sliced unit on gfd-c is a quarter GPU: one unit reserved pays 3.0 / 4 = 0.75.
    s.upsert("Pod", decode(pod("p", "gfd-c", container(cpu="1", limits={"nvidia.com/gpu": "1"}))))
    s.flush()
    cost = s.pod_cost("default/p")
    assert cost is not None and cost.gpu == exact(0.75)


def test_a_pricing_reload_works_inventories_and_list_prices_out_again(inventories_worked_out: list[str]) -> None:
    s = engine([gfd_node("gfd-a", "1", replicas=4), node("cpu-0", cpu="4", memory="16Gi",
                labels={"node.kubernetes.io/instance-type": "m5.xlarge", "kubernetes.io/hostname": "cpu-0"})],
               PRICING)
    assert node_cost(s, "cpu-0") == {"cpu": exact(0.2), "memory": exact(0.08)}  # 4 x 0.05, 16 x 0.005
    s.upsert("Pod", decode(pod("p", "gfd-a", container(cpu="1", limits={"nvidia.com/gpu": "1"}))))
    s.flush()
    assert s.pod_cost("default/p").gpu == exact(0.75)  # type: ignore[union-attr]
    # The reload weighs a unit at half a GPU and prices m5.xlarge at 0.3 $/h, split by the
    # default weights 0.2 : 0.08 -> cpu 0.3 x 0.2 / 0.28, memory 0.3 x 0.08 / 0.28.
    s.reprice(parse_pricing(PRICING + "gpu_weights: {nvidia.com/gpu: 0.5}\ninstance_types: {m5.xlarge: 0.3}\n", "r.yaml"))
    s.flush()
    assert inventories_worked_out == ["gfd-a", "cpu-0", "gfd-a", "cpu-0"]
    assert s.pod_cost("default/p").gpu == exact(1.5)  # type: ignore[union-attr]
    assert node_cost(s, "cpu-0") == {"cpu": exact(0.3 * 0.2 / 0.28), "memory": exact(0.3 * 0.08 / 0.28)}


def test_pods_of_one_cost_share_its_text_and_each_line_keeps_its_own() -> None:
    # 16 cores x 0.05 = 0.8 $/h over 16,000 millicores: 0.00005 $/h a millicore. Pods of
    # 100m..500m cost 0.005..0.025, two pods of each size; one pass reuses the texts.
    sizes = [100, 200, 300, 400, 500]
    s = engine([node("n", cpu="16", memory="64Gi"),
                *(pod(f"p{m}-{i}", "n", container(cpu=f"{m}m")) for m in sizes for i in range(2))], PRICING)
    lines = {line.split('pod="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
             for line in s.render().splitlines() if line.startswith("gpucost_pod_cpu_cost_per_hour")}
    assert lines == {f"p{m}-{i}": exact(m * 0.00005) for m in sizes for i in range(2)}


def test_gzip_members_decode_to_their_text() -> None:
    # ISA-L is a declared dependency: installed, it compresses the members.
    assert exposition.DEFLATE == "isal"
    text = b"".join(b'gpucost_pod_cpu_cost_per_hour{pod="p%d"} 0.%d\n' % (i, i) for i in range(5000))
    member = exposition.gzip_member(text)
    assert gzip.decompress(member + exposition.gzip_member(b"# tail\n")) == text + b"# tail\n"
    assert len(member) < len(text) / 4


def test_without_isal_members_come_from_zlib() -> None:
    # A platform without python-isal's wheels: the import fails and zlib compresses.
    code = (
        "import sys, gzip; sys.modules['isal'] = None\n"
        "from gpucost import exposition\n"
        "m = exposition.gzip_member(b'x 1\\n' * 1000)\n"
        "print(exposition.DEFLATE, gzip.decompress(m + m) == b'x 1\\n' * 2000)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["zlib", "True"]


def test_a_replicaset_relist_relabels_its_pods_and_drops_the_missing() -> None:
    # web-1 (ReplicaSet) belongs to Deployment web; the relist moves it to Deployment shop,
    # then a relist without it leaves the pod owned by the ReplicaSet itself.
    rs = controller("ReplicaSet", "web-1", "rs-1", owner=("Deployment", "web", "d-1"))
    p = pod("web-1-a", "n", container(cpu="1"), owner=("ReplicaSet", "web-1", "rs-1"))
    s = engine([node("n"), rs, p], PRICING)

    def owner() -> str:
        line = next(li for li in s.render().splitlines() if li.startswith("gpucost_pod_cpu_cost_per_hour"))
        return line.split("owner_kind=")[1].split(",team")[0]

    assert owner() == '"Deployment",owner_name="web"'
    s.replace("ReplicaSet", [decode(controller("ReplicaSet", "web-1", "rs-1", owner=("Deployment", "shop", "d-2")))])
    assert owner() == '"Deployment",owner_name="shop"'
    s.replace("ReplicaSet", [])
    assert owner() == '"ReplicaSet",owner_name="web-1"'


def test_a_first_list_keeps_no_key_set_and_a_relist_still_drops_the_missing() -> None:
    # A first pod list finds no pods, so it cannot miss any: a pod another source adds while
    # it streams (a newer event) stays. The next list, which lacks two of the three, drops them.
    s = engine([node("n", cpu="16", memory="64Gi")], PRICING)
    first = s.relist("Pod")
    first.add(decode(pod("a", "n", container(cpu="1"))))
    s.upsert("Pod", decode(pod("b", "n", container(cpu="2"))))  # from elsewhere, mid-list
    first.add(decode(pod("c", "n", container(cpu="4"))))
    first.finish()
    s.flush()
    # 16 cores x 0.05 = 0.80 $/h over 16 cores: 0.05 a core; a, b and c pay 1, 2 and 4 cores
    costs = {k: c.cpu for k in ("default/a", "default/b", "default/c") if (c := s.pod_cost(k)) is not None}
    assert costs == {"default/a": exact(0.05), "default/b": exact(0.10), "default/c": exact(0.20)}
    s.replace("Pod", [decode(pod("a", "n", container(cpu="1")))])
    assert [k for k in ("default/a", "default/b", "default/c") if s.pod_cost(k) is not None] == ["default/a"]
    assert s.node_cost("n").idle["cpu"] == exact(0.75)  # 0.80 x 15/16
    assert "pod=\"b\"" not in s.render() and "pod=\"c\"" not in s.render()


def test_a_group_emptied_and_joined_again_still_follows_its_namespace() -> None:
    # Pods find their group by comparing with the last one joined (a list returns a
    # controller's pods together). When the group's last pod goes, the group goes; the next
    # pod of the same labels gets a group the namespace index knows, so a relabelled
    # namespace still reaches it.
    rs = controller("ReplicaSet", "web-1", "rs-1")
    first = pod("web-1-a", "n", container(cpu="1"), namespace="shop", owner=("ReplicaSet", "web-1", "rs-1"))
    s = engine([node("n"), namespace("shop", team="red"), rs, first], PRICING)
    s.delete("Pod", decode(first))
    s.upsert("Pod", decode(pod("web-1-b", "n", container(cpu="1"), namespace="shop",
                               owner=("ReplicaSet", "web-1", "rs-1"))))
    s.upsert("Namespace", decode(namespace("shop", team="blue")))
    lines = [li for li in s.render().splitlines() if li.startswith("gpucost_pod_cpu_cost_per_hour")]
    assert len(lines) == 1 and 'pod="web-1-b"' in lines[0] and 'team="blue"' in lines[0]
