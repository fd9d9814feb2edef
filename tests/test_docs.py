"""Every command the README's Quick start (with "Other ways to run it" and "In a cluster") and
docs/deploy.md show is run here, or is run by CI, and a new command cannot slip in unchecked.

Each shell command must match one entry of CHECKS, which says how it is verified:

- run as written, in a scratch folder (`gpucost-exporter ...`, `bash scripts/demo.sh`); the
  exporter's live mode and `kubectl get` talk to the fake API server (tests/kubeapi_fake.py)
  through a real kubeconfig, with the real kubectl;
- `kubectl apply -k DIR`: its build half, `kubectl kustomize DIR`, is run; the apply half needs a
  cluster;
- run by CI: `bash scripts/test.sh` is what .ci/run runs; `docker buildx build ... --push .` is
  the release workflow's own command (this machine has no Docker daemon).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from gpucost import __version__

from kubeapi_fake import RESOURCE_TYPES, FakeKubeAPI, namespace, node, pod, write_kubeconfig

REPO = Path(__file__).resolve().parents[1]
KUBECTL = shutil.which("kubectl")
IMAGE = "ghcr.io/gpucost/gpucost-exporter"
YOUR_IMAGE = f"registry.example.com/gpucost-exporter:{__version__}"
LAYOUTS = ("deploy/base", "deploy/overlays/daemonset", "deploy/overlays/sharded")

#: (document, the section the commands are in; None: the whole file)
DOCUMENTS = [("README.md", "## Quick start"), ("docs/deploy.md", None)]

#: How each documented command is checked: a pattern the whole command matches, and the test.
CHECKS = [
    (r"bash scripts/demo\.sh", "test_demo_script_from_a_fresh_copy"),
    (r"bash scripts/test\.sh", "test_ci_runs_the_test_command"),
    (r"gpucost-exporter --demo --once", "test_other_ways_to_run_it"),
    (r"kubectl get nodes,pods,namespaces,replicasets,jobs -A -o json > cluster\.json", "test_other_ways_to_run_it"),
    (r"gpucost-exporter --from-file cluster\.json --pricing-file pricing\.yaml --once", "test_other_ways_to_run_it"),
    (r"gpucost-exporter --pricing-file pricing\.yaml", "test_other_ways_to_run_it"),
    (r"kubectl apply -k (deploy/[\w/-]+)", "test_kubectl_apply_folders_build"),
    (r"kubectl apply -k my-gpucost", "test_your_own_image_overlay"),
    (r"kubectl apply -k (examples/[\w/-]+)", "test_kubectl_apply_examples_build"),
    (r"docker buildx build --platform linux/amd64,linux/arm64 -t \S+ --push \.", "test_release_workflow_builds_as_documented"),
]


def section(text: str, heading: str | None) -> str:
    if heading is None:
        return text
    start = text.index(heading + "\n")
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end < 0 else text[start:end]


def blocks(doc: str, heading: str | None, lang: str) -> list[str]:
    text = section((REPO / doc).read_text(), heading)
    return re.findall(rf"^```{lang}\n(.*?)^```$", text, re.S | re.M)


def commands(block: str) -> list[str]:
    """The block's commands: continuation lines joined, comments and blank lines dropped."""
    out = []
    for line in block.replace("\\\n", " ").splitlines():
        command = re.sub(r"(^|\s+)#.*$", "", line).strip()
        if command:
            out.append(re.sub(r"\s+", " ", command))
    return out


def documented(doc: str, heading: str | None) -> list[list[str]]:
    return [commands(b) for b in blocks(doc, heading, "sh")]


def check_of(command: str) -> str:
    found = [test for pattern, test in CHECKS if re.fullmatch(pattern, command)]
    assert len(found) == 1, f"{command!r}: no check in CHECKS (or more than one) — add one"
    return found[0]


ALL_COMMANDS = [(doc, c) for doc, heading in DOCUMENTS for b in documented(doc, heading) for c in b]


def test_the_documents_show_the_commands_a_user_needs() -> None:
    readme = [c for doc, c in ALL_COMMANDS if doc == "README.md"]
    assert "bash scripts/demo.sh" in readme and "gpucost-exporter --demo --once" in readme
    assert {f"kubectl apply -k {d}" for d in (*LAYOUTS, "deploy/prometheus-operator")} <= set(readme)
    assert "kubectl apply -k deploy/" not in readme  # not a kustomization (issue 14)


@pytest.mark.parametrize(("doc", "command"), ALL_COMMANDS, ids=[f"{d}:{c[:50]}" for d, c in ALL_COMMANDS])
def test_every_documented_command_has_a_check(doc: str, command: str) -> None:
    assert check_of(command) in globals()


# --- run by CI ----------------------------------------------------------------------------------


def test_ci_runs_the_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^exec bash scripts/test\.sh\b", ci, re.M)
    release = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())
    steps = release["jobs"]["test"]["steps"]
    assert any(step.get("run") == "bash .ci/run" for step in steps)


def release_workflow() -> dict[str, Any]:
    return yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())


def test_release_workflow_builds_as_documented() -> None:
    workflow = release_workflow()
    # PyYAML reads the bare key `on` as True (YAML 1.1).
    assert workflow[True] == {"push": {"tags": ["v*"]}}
    image_job = workflow["jobs"]["image"]
    assert image_job["needs"] == "test"
    assert image_job["permissions"]["packages"] == "write"
    runs = "\n".join(step.get("run", "") for step in image_job["steps"])
    run_lines = [line.strip() for line in runs.splitlines()]
    # The IMAGE it pushes is the manifests' image for the gpucost organisation, tagged with the
    # package version the tag must equal.
    assert 'echo "IMAGE=ghcr.io/${GITHUB_REPOSITORY_OWNER,,}/gpucost-exporter"' in runs
    assert IMAGE == "ghcr.io/gpucost/gpucost-exporter"
    assert '"$GITHUB_REF_NAME" != "v$version"' in runs
    assert "docker run --rm gpucost-exporter:smoke --demo --once" in runs
    documented_builds = [c for _, c in ALL_COMMANDS if c.startswith("docker buildx build --platform")]
    assert documented_builds
    for command in documented_builds:
        ours = command.replace(YOUR_IMAGE, '"$IMAGE:$VERSION"')
        assert ours != command, f"{command}: expected the image {YOUR_IMAGE}"
        assert ours in run_lines, f"the release workflow does not run {ours}"


def manifest_images(components: bool = False) -> set[str]:
    """The images of deploy/'s manifests; or of the optional components' sidecars."""
    images = set()
    for path in (REPO / "deploy").rglob("*.yaml"):
        if ("components" in path.relative_to(REPO / "deploy").parts) == components:
            images |= set(re.findall(r"^\s+image:\s*(\S+)", path.read_text(), re.M))
    return images


def test_manifests_run_the_image_the_workflow_publishes() -> None:
    assert manifest_images() == {f"{IMAGE}:{__version__}"}
    # a component's sidecar runs a third party's image, pinned to a release
    sidecars = manifest_images(components=True)
    assert sidecars and all(re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+", i) for i in sidecars), sidecars
    assert f"org.opencontainers.image.source=\"https://github.com/{IMAGE.split('/')[1]}/" in \
        (REPO / "Dockerfile").read_text()


# --- kubectl apply -k: the build half -------------------------------------------------------------


def kustomize(folder: Path) -> list[dict[str, Any]]:
    assert KUBECTL
    out = subprocess.run([KUBECTL, "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (for kubectl kustomize) is not installed")
def test_kubectl_apply_folders_build() -> None:
    folders = {m.group(1) for _, c in ALL_COMMANDS if (m := re.fullmatch(r"kubectl apply -k (deploy/[\w/-]+)", c))}
    assert folders == {*LAYOUTS, "deploy/prometheus-operator"}
    for folder in sorted(folders):
        assert kustomize(REPO / folder), folder


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (for kubectl kustomize) is not installed")
def test_kubectl_apply_examples_build() -> None:
    folders = {m.group(1) for _, c in ALL_COMMANDS if (m := re.fullmatch(r"kubectl apply -k (examples/[\w/-]+)", c))}
    assert folders == {"examples/billing-export-s3"}  # tests/test_deploy.py checks what it builds
    for folder in sorted(folders):
        exporters = [c for d in kustomize(REPO / folder) if d["kind"] == "Deployment"
                     for c in d["spec"]["template"]["spec"]["containers"] if c["name"] == "exporter"]
        assert [c["image"] for c in exporters] == [f"{IMAGE}:{__version__}"], folder


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (for kubectl kustomize) is not installed")
def test_your_own_image_overlay(tmp_path: Path) -> None:
    (overlay,) = [b for b in blocks("docs/deploy.md", None, "yaml") if b.startswith("# my-gpucost/kustomization.yaml")]
    (tmp_path / "deploy").symlink_to(REPO / "deploy")
    mine = tmp_path / "my-gpucost"
    mine.mkdir()
    for layout in LAYOUTS:
        (mine / "kustomization.yaml").write_text(overlay.replace("../deploy/base", f"../{layout}"))
        images = {c["image"] for d in kustomize(mine) if d["kind"] in {"Deployment", "DaemonSet", "StatefulSet"}
                  for c in d["spec"]["template"]["spec"]["containers"]}
        assert images == {YOUR_IMAGE}, layout


# --- run as written -----------------------------------------------------------------------------


def test_demo_script_from_a_fresh_copy(tmp_path: Path) -> None:
    # `bash scripts/demo.sh` on a fresh clone: it makes .venv, installs gpucost and serves the
    # demo; extra arguments go to the exporter, so --once prints the exposition and exits.
    for entry in ("pyproject.toml", "README.md", "exporter", "scripts"):
        source = REPO / entry
        if source.is_dir():
            shutil.copytree(source, tmp_path / entry, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, tmp_path / entry)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    out = subprocess.run(["bash", "scripts/demo.sh", "--once"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / ".venv" / "bin" / "gpucost-exporter").is_file()
    assert re.search(r'^gpucost_node_cost_per_hour\{node="ip-10-0-41-77\.ec2\.internal",resource="gpu"\} ', out.stdout, re.M)


class DiscoveringKubeAPI(FakeKubeAPI):
    """The fake API server plus the discovery documents kubectl reads before a `get`
    (/api, /apis, /api/v1, /apis/<group>/v1), as kube-apiserver serves them."""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/")
        if path == "/api":
            return web.json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
        if path == "/apis":
            groups = sorted({t.group for t in RESOURCE_TYPES.values() if t.group})
            return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": f"{g}/v1", "version": "v1"}} for g in groups]})
        for group_version in {t.api_version for t in RESOURCE_TYPES.values()}:
            if path == ("/api/v1" if group_version == "v1" else f"/apis/{group_version}"):
                return web.json_response({
                    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
                    "resources": [{"name": t.plural, "singularName": t.kind.lower(), "namespaced": t.namespaced,
                                   "kind": t.kind, "verbs": ["get", "list", "watch"]}
                                  for t in RESOURCE_TYPES.values() if t.api_version == group_version]})
        return await super()._handle(request)


@pytest.fixture
async def cluster() -> AsyncIterator[FakeKubeAPI]:
    # kubectl sends no bearer token over plain HTTP, so this fake asks for none.
    async with DiscoveringKubeAPI() as api:
        api.create(namespace("web", team="frontend"))
        api.create(node("cpu-1", cpu="16", memory="64Gi"))
        api.create(pod("web-1", "web", "cpu-1", cpu="2", memory="8Gi"))
        yield api


def costs(exposition: str) -> dict[tuple[str, str], float]:
    """(metric, pod) -> value for the pod cost series, checking the team label on the way."""
    out = {}
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            if s.name.startswith("gpucost_pod_") and s.labels.get("pod") == "web-1":
                assert s.labels["team"] == "frontend" and s.labels["node"] == "cpu-1"
                out[s.name, s.labels["pod"]] = s.value
    return out


#: deploy/base/pricing.yaml's default unit prices (no instance type on the node): cpu-1 costs
#: 16 x 0.031611 = 0.505776 $/h of CPU and 64 x 0.004237 = 0.271168 $/h of memory; web-1
#: reserves 2 of 16 cores and 8 of 64 GiB: 0.063222 and 0.033896 $/h.
WEB_1 = {("gpucost_pod_cpu_cost_per_hour", "web-1"): 0.063222, ("gpucost_pod_memory_cost_per_hour", "web-1"): 0.033896}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def shell(command: str, cwd: Path, env: dict[str, str]) -> str:
    proc = await asyncio.create_subprocess_shell(command, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE,
                                                 stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, f"{command}: {err.decode()}"
    return out.decode()


async def serve_live(command: str, cwd: Path, env: dict[str, str]) -> str:
    """Run the live command (on a free port, not :9863) until ready; return one scrape."""
    port = free_port()
    proc = await asyncio.create_subprocess_shell(f"exec {command} --web.listen-address 127.0.0.1:{port}",
                                                 cwd=cwd, env=env, stderr=asyncio.subprocess.PIPE)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                assert proc.returncode is None, "the live exporter exited"
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the live exporter did not become ready")
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                return await resp.text()
    finally:
        proc.terminate()
        await proc.wait()


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
async def test_other_ways_to_run_it(cluster: FakeKubeAPI, tmp_path: Path) -> None:
    (block,) = [b for b in documented("README.md", "## Quick start") if "gpucost-exporter --demo --once" in b]
    shutil.copy(REPO / "deploy" / "base" / "pricing.yaml", tmp_path / "pricing.yaml")  # "a start"
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", cluster.url)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}  # HOME: kubectl's discovery cache
    checked = []
    for command in block:
        if command.startswith("gpucost-exporter") and "--once" not in command:
            assert costs(await serve_live(command, tmp_path, env)) == pytest.approx(WEB_1)
        else:
            out = await shell(command, tmp_path, env)
            if "--demo" in command:
                assert 'gpucost_node_cost_per_hour{node="ip-10-0-41-77.ec2.internal",resource="gpu"}' in out
            elif "--from-file" in command:
                assert costs(out) == pytest.approx(WEB_1)
            else:  # kubectl get: a List of what the API holds
                dump = yaml.safe_load((tmp_path / "cluster.json").read_text())
                assert dump["kind"] == "List"
                assert sorted(i["kind"] for i in dump["items"]) == ["Namespace", "Node", "Pod"]
        checked.append(command)
    assert len(checked) == 4
