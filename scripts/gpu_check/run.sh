#!/usr/bin/env bash
# The real-GPU check: run on a machine with an NVIDIA GPU and driver, from the repository root.
#
#   OUT=/tmp/gpu-check bash scripts/gpu_check/run.sh
#
# Writes to $OUT: nvidia-smi's views of the GPUs, the raw NVML answers (nvml_capture.py), the
# real-NVML tests (tests/test_nvml_real.py) with the fake-NVML tests beside them, NVML read
# while the GPU is busy, and the exporter's --once exposition for this machine. Needs the
# exporter's Python dependencies importable (PYTHONPATH or an installed venv); torch, where
# present, loads the GPU for the busy reading. docs/nvml.md says what the last run found.
set -u
OUT=${OUT:?set OUT to a folder for the results}
mkdir -p "$OUT"
export PYTHONPATH="exporter:tests${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py=${PYTHON:-python3}

nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1
nvidia-smi -q >"$OUT/nvidia-smi-q.txt" 2>&1
nvidia-smi mig -lgip >"$OUT/mig-lgip.txt" 2>&1
"$py" scripts/gpu_check/nvml_capture.py >"$OUT/nvml.json" 2>"$OUT/nvml.err"
echo "capture rc $?"

"$py" -m pytest -v -s -p no:cacheprovider tests/test_nvml_real.py tests/test_nvml.py \
    >"$OUT/pytest.txt" 2>&1
echo "pytest rc $?"; tail -3 "$OUT/pytest.txt"

# NVML while the GPU works: utilization, memory used and power should move off idle.
"$py" - >"$OUT/busy.txt" 2>&1 <<'EOF'
import subprocess, sys, time
from gpucost.nvml import read_inventory

def show(tag):
    for d in read_inventory().devices:
        print(tag, d.index, d.utilization_ratio, d.memory_used_bytes, d.power_watts, flush=True)

show("idle")
load = subprocess.Popen([sys.executable, "-c", """
import time, torch
a = torch.randn(8192, 8192, device='cuda', dtype=torch.bfloat16)
end = time.time() + 12
while time.time() < end:
    for _ in range(50):
        a @ a
    torch.cuda.synchronize()
"""])
time.sleep(6)
for _ in range(4):
    show("busy")
    time.sleep(1)
load.wait()
print("load rc", load.returncode)
t0 = time.perf_counter()
for _ in range(50):
    read_inventory()
print("read_inventory ms", round((time.perf_counter() - t0) / 50 * 1000, 3))
EOF
echo "busy rc $?"; cat "$OUT/busy.txt"

# The exporter on this machine: a node with no GPU labels, NVML naming its GPUs.
count=$(nvidia-smi --query-gpu=index --format=csv,noheader | wc -l)
cat >"$OUT/cluster.json" <<EOF
{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "this-machine", "uid": "n-1"},
  "status": {"capacity": {"cpu": "16", "memory": "128Gi", "nvidia.com/gpu": "$count"},
             "allocatable": {"cpu": "16", "memory": "128Gi", "nvidia.com/gpu": "$count"}}},
 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "trainer", "namespace": "ml", "uid": "p-1"},
  "spec": {"nodeName": "this-machine", "containers": [{"name": "main", "resources":
   {"requests": {"cpu": "4", "memory": "8Gi"}, "limits": {"nvidia.com/gpu": "1"}}}]},
  "status": {"phase": "Running"}}]}
EOF
"$py" -m gpucost --from-file "$OUT/cluster.json" --nvml --node-name this-machine --once \
    >"$OUT/once.txt" 2>"$OUT/once.err"
echo "once rc $?"; grep -E '^gpucost_(nvml_up|gpu_info|pod_gpu|node_gpu|gpu_price)' "$OUT/once.txt" | head -20
