"""A dcgm-exporter-shaped exposition for the GPU pods of a gpucost exposition, served over HTTP.

The label sets follow NVIDIA/dcgm-exporter as published:
- internal/pkg/rendermetrics/render_metrics.go: gpu, UUID, pci_bus_id, device, modelName,
  GPU_I_PROFILE and GPU_I_ID on MIG instances, Hostname, then "label" fields
  (DCGM_FI_DRIVER_VERSION, declared in etc/dcp-metrics-included.csv) and the pod attributes;
- internal/pkg/transformation/kubernetes.go: pod, namespace, container ("" on a GPU no pod
  holds); with shared GPUs (--kubernetes-virtual-gpus) one copy of the device's series per
  sharing pod, with vgpu;
- etc/dcp-metrics-included.csv: HELP texts and types; DCGM_FI_DEV_GPU_UTIL in percent,
  DCGM_FI_PROF_GR_ENGINE_ACTIVE a ratio; issues 105/216: GPU_UTIL reads 0 on MIG instances.

The utilization values are this fixture's choice (binary fractions); `pod_utilization` gives
what the rules should make of them, computed here from the fixture's own devices.
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client.parser import text_string_to_metric_families

GR = "DCGM_FI_PROF_GR_ENGINE_ACTIVE"
UTIL = "DCGM_FI_DEV_GPU_UTIL"
HELP = {GR: (GR, "gauge", "Ratio of time the graphics engine is active."),
        UTIL: (UTIL, "gauge", "GPU utilization (in %).")}
DRIVER = "550.54.15"
#: Engine-active ratios handed out to devices in turn.
RATIOS = (0.75, 0.25, 0.5, 0.875, 0.125, 0.625, 0.375, 1.0, 0.0625)
#: The GPU_UTIL reading of the one pod whose GPUs report no profiling metrics (percent).
LEGACY_UTIL_PERCENT = 40.0

PodKey = tuple[str, str]


@dataclass(frozen=True)
class Device:
    """One series set of the exposition: a GPU, a MIG instance, or a shared GPU's copy for
    one pod. `pod` is None for a GPU no pod holds."""

    node: str
    gpu: int
    model: str
    gr: float | None                 # engine-active ratio; None: no profiling metrics
    util_percent: float              # DCGM_FI_DEV_GPU_UTIL
    pod: PodKey | None = None
    mig: tuple[str, int] | None = None   # (GPU_I_PROFILE, GPU_I_ID)
    vgpu: str | None = None

    def labels(self) -> str:
        parent = uuid.uuid5(uuid.NAMESPACE_DNS, f"{self.node}/{self.gpu}")
        parts = [("gpu", str(self.gpu)), ("UUID", f"GPU-{parent}"),
                 ("pci_bus_id", f"00000000:{0x18 + self.gpu:02X}:00.0"),
                 ("device", f"nvidia{self.gpu}"), ("modelName", self.model)]
        if self.mig:
            parts += [("GPU_I_PROFILE", self.mig[0]), ("GPU_I_ID", str(self.mig[1]))]
        parts += [("Hostname", self.node), ("DCGM_FI_DRIVER_VERSION", DRIVER)]
        namespace, pod = self.pod or ("", "")
        parts += [("container", "main" if self.pod else ""), ("namespace", namespace), ("pod", pod)]
        if self.vgpu is not None:
            parts.append(("vgpu", self.vgpu))
        return ",".join(f'{k}="{v}"' for k, v in parts)


@dataclass
class DcgmExposition:
    devices: list[Device] = field(default_factory=list)
    #: GPU pods deliberately given no series (their utilization is unknown).
    left_out: list[PodKey] = field(default_factory=list)

    @classmethod
    def for_gpucost_exposition(cls, text: str) -> DcgmExposition:
        """Series for the NVIDIA GPU pods of gpucost's exposition: whole GPUs (several per pod
        where it holds several), MIG instances and time-sliced GPUs; the first whole-GPU pod
        reports GPU_UTIL only (a GPU without profiling metrics), the last has no series at all,
        and one free GPU per time-sliced node carries no pod."""
        nodes: dict[str, dict[str, str]] = {}
        reservations: dict[str, list[tuple[PodKey, str, float]]] = defaultdict(list)
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "gpucost_node_gpu_info":
                    nodes[s.labels["node"]] = dict(s.labels)
                elif s.name == "gpucost_pod_gpu_reserved":
                    reservations[s.labels["node"]].append(
                        ((s.labels["namespace"], s.labels["pod"]), s.labels["resource"], s.value))
        whole = sorted(pod for node, rs in reservations.items() for pod, res, _ in rs
                       if res == "nvidia.com/gpu" and nodes[node].get("sharing") == "none")
        legacy, left_out = whole[0], whole[-1]
        exposition = cls(left_out=[left_out])
        turn = iter(RATIOS * 100)
        for node in sorted(reservations):
            info = nodes[node]
            if info.get("vendor") != "nvidia":
                continue
            model = info.get("gpu_model", "").replace("NVIDIA-", "NVIDIA ", 1)
            gpus = 0
            pods = sorted(reservations[node])
            if info.get("sharing") == "time-slicing":
                replicas = round(1 / min(amount for _, _, amount in pods))
                shared: dict[int, float] = {}
                for i, (pod, _, _) in enumerate(pods):
                    gpu = i // replicas
                    gr = shared.setdefault(gpu, next(turn))
                    exposition.devices.append(Device(node, gpu, model, gr, 100.0, pod,
                                                     vgpu=str(i % replicas)))
                free = max(shared) + 1
                exposition.devices.append(Device(node, free, model, 0.0, 0.0))
                continue
            migs = 0
            for pod, resource, amount in pods:
                if pod == left_out:
                    gpus += round(amount)
                elif resource.startswith("nvidia.com/mig-"):
                    # Three instances per parent GPU, GPU instance ids 1..3 on each.
                    parent, slot = divmod(migs, 3)
                    profile = resource.removeprefix("nvidia.com/mig-")
                    exposition.devices.append(Device(node, parent, model, next(turn), 0.0, pod,
                                                     mig=(profile, slot + 1)))
                    migs += 1
                else:
                    for _ in range(round(amount)):
                        gr = None if pod == legacy else next(turn)
                        exposition.devices.append(Device(node, gpus, model, gr,
                                                         LEGACY_UTIL_PERCENT if gr is None else 99.0, pod))
                        gpus += 1
        return exposition

    def text(self) -> str:
        lines = []
        for name, (_, kind, help_text) in HELP.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            for d in self.devices:
                value = d.gr if name == GR else d.util_percent
                if value is not None:
                    lines.append(f"{name}{{{d.labels()}}} {value}")
        return "\n".join(lines) + "\n"

    def attributed_series(self, name: str) -> int:
        return sum(1 for d in self.devices if d.pod and (name != GR or d.gr is not None))

    def pod_utilization(self) -> dict[PodKey, float]:
        """Per pod, the mean over its devices of the engine-active ratio, or GPU_UTIL / 100
        where a whole GPU has no profiling metrics (never GPU_UTIL on a MIG instance)."""
        values: dict[PodKey, list[float]] = defaultdict(list)
        for d in self.devices:
            if d.pod is None:
                continue
            if d.gr is not None:
                values[d.pod].append(d.gr)
            elif d.mig is None:
                values[d.pod].append(d.util_percent / 100)
        return {pod: sum(v) / len(v) for pod, v in values.items()}


def serve(text: str, request: pytest.FixtureRequest) -> int:
    """Serve `text` as /metrics on a loopback port until the requesting fixture ends."""
    body = text.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # scrapes every second: keep quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    request.addfinalizer(stop)
    return int(server.server_address[1])
