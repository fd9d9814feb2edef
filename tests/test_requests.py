"""Every upstream scheduler vector (tests/pod-requests-vectors.yaml, copied from
shared/reference) must give exactly the expected effective requests."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import yaml

from gpucost.objects import Pod
from gpucost.quantity import milli_value, value
from gpucost.requests import RequestError, pod_requests

VECTORS = yaml.safe_load((Path(__file__).parent / "pod-requests-vectors.yaml").read_text())


def _container(c: dict) -> dict:
    c = dict(c)
    out: dict = {"name": c.pop("name", "c")}
    if c.pop("restart", None) == "Always":
        out["restartPolicy"] = "Always"
    limits = c.pop("limits", None)
    out["resources"] = {"requests": {k: v for k, v in c.items()}}
    if limits:
        out["resources"]["limits"] = limits
    return out


def _status(entries: list[dict]) -> list[dict]:
    out = []
    for s in entries:
        st: dict = {"name": s["name"]}
        if "allocated" in s:
            st["allocatedResources"] = s["allocated"]
        if "resources_requests" in s:
            st["resources"] = {"requests": s["resources_requests"]}
        out.append(st)
    return out


def pod_from_vector(v: dict) -> Pod:
    spec: dict = {"containers": [_container(c) for c in v.get("containers", [])]}
    if "init" in v:
        spec["initContainers"] = [_container(c) for c in v["init"]]
    if "overhead" in v:
        spec["overhead"] = v["overhead"]
    if "podLevel" in v:
        spec["resources"] = {"requests": v["podLevel"]}
    status: dict = {}
    if "conditions" in v:
        status["conditions"] = v["conditions"]
    if "status" in v:
        status["containerStatuses"] = _status(v["status"])
    if "initStatus" in v:
        status["initContainerStatuses"] = _status(v["initStatus"])
    return msgspec.convert({"spec": spec, "status": status}, Pod)


def _expected_units(amounts: dict[str, int]) -> dict[str, int]:
    out = {}
    for name, nano in amounts.items():
        if name == "cpu":
            out["cpu_m"] = milli_value(nano)
        elif name == "memory":
            out["mem_b"] = value(nano)
        else:
            out[name] = value(nano)
    return out


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_upstream_vector(vector: dict) -> None:
    opts = vector.get("opts", {})
    got = pod_requests(
        pod_from_vector(vector),
        use_status=opts.get("useStatus", True),
        skip_pod_level=opts.get("skipPodLevel", False),
        exclude_overhead=opts.get("exclOverhead", False),
    )
    assert _expected_units(got) == vector["expect"]


def test_status_ignored_when_pod_has_no_status() -> None:
    pod = pod_from_vector({"containers": [{"cpu": "250m", "memory": "64Mi"}]})
    assert _expected_units(pod_requests(pod)) == {"cpu_m": 250, "mem_b": 67108864}


def test_pod_level_limit_implies_request() -> None:
    pod = msgspec.convert(
        {"spec": {"resources": {"limits": {"cpu": "2"}}, "containers": [{"name": "a"}]}}, Pod
    )
    assert _expected_units(pod_requests(pod)) == {"cpu_m": 2000}


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (
            {"requests": {"cpu": "1x"}},
            "spec.containers[0].resources.requests[cpu]: invalid quantity '1x'",
        ),
        (
            {"limits": {"memory": "1KB"}},
            "spec.containers[0].resources.limits[memory]: invalid quantity '1KB'",
        ),
        (
            {"requests": {"cpu": "-1"}},
            "spec.containers[0].resources.requests[cpu]: negative quantity '-1'",
        ),
    ],
)
def test_bad_quantities_name_the_field(resources: dict, message: str) -> None:
    pod = msgspec.convert({"spec": {"containers": [{"name": "a", "resources": resources}]}}, Pod)
    with pytest.raises(RequestError) as err:
        pod_requests(pod)
    assert str(err.value) == message
