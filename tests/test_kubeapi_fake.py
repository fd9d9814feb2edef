"""The fake API server keeps the promises the watch client relies on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from kubeapi_fake import FakeKubeAPI, node, pod


@pytest.fixture
async def api() -> AsyncIterator[FakeKubeAPI]:
    async with FakeKubeAPI(bookmark_interval=None) as server:
        yield server


async def get(api: FakeKubeAPI, path: str, **params: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s, s.get(api.url + path, params=params) as r:
        return r.status, await r.json()


async def watch_lines(api: FakeKubeAPI, path: str, n: int, **params: str) -> list[dict]:
    """The first `n` events of a watch."""
    events = []
    params = {"watch": "1", **params}
    async with aiohttp.ClientSession() as s, s.get(api.url + path, params=params) as r:
        assert r.status == 200
        async for line in r.content:
            events.append(json.loads(line))
            if len(events) == n:
                break
    return events


def names(items: list[dict]) -> list[str]:
    return [i["metadata"]["name"] for i in items]


async def test_pages_come_from_one_snapshot(api: FakeKubeAPI) -> None:
    for i in range(5):
        api.create(pod(f"p{i}"))
    status, first = await get(api, "/api/v1/pods", limit="2")
    assert status == 200 and names(first["items"]) == ["p0", "p1"]
    assert first["metadata"]["remainingItemCount"] == 3
    # Changes after the first page do not show in the later pages of the same list.
    api.delete("Pod", "p3", "default")
    api.create(pod("p9"))
    token = first["metadata"]["continue"]
    _, second = await get(api, "/api/v1/pods", limit="2", **{"continue": token})
    _, third = await get(
        api, "/api/v1/pods", limit="2", **{"continue": second["metadata"]["continue"]}
    )
    assert names(second["items"]) + names(third["items"]) == ["p2", "p3", "p4"]
    assert "continue" not in third["metadata"]
    assert third["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    # After compaction the snapshot is gone: 410, as etcd answers an expired token.
    api.compact()
    status, body = await get(api, "/api/v1/pods", limit="2", **{"continue": token})
    assert (status, body["code"], body["reason"]) == (410, 410, "Expired")


async def test_field_selectors_on_lists_and_namespaced_paths(api: FakeKubeAPI) -> None:
    api.create(node("a"))
    api.create(node("b"))
    api.create(pod("x", "ml", node_name="a"))
    api.create(pod("y", "web", node_name="b"))
    _, nodes = await get(api, "/api/v1/nodes", fieldSelector="metadata.name=b")
    _, pods = await get(api, "/api/v1/pods", fieldSelector="spec.nodeName=a")
    _, in_web = await get(api, "/api/v1/namespaces/web/pods")
    assert (names(nodes["items"]), names(pods["items"]), names(in_web["items"])) == (
        ["b"],
        ["x"],
        ["y"],
    )
    status, body = await get(api, "/api/v1/pods", fieldSelector="spec.bogus=1")
    assert status == 400 and "not supported" in body["message"]


async def test_watch_resumes_after_a_resource_version(api: FakeKubeAPI) -> None:
    api.create(pod("a"))
    _, listed = await get(api, "/api/v1/pods")
    rv = listed["metadata"]["resourceVersion"]
    api.update(pod("a", phase="Succeeded"))
    api.create(node("n1"))  # another resource: not in this watch
    api.delete("Pod", "a", "default")
    events = await watch_lines(api, "/api/v1/pods", 2, resourceVersion=rv)
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    assert events[0]["object"]["kind"] == "Pod"
    assert int(events[1]["object"]["metadata"]["resourceVersion"]) == api.resource_version


async def test_objects_entering_and_leaving_a_selection(api: FakeKubeAPI) -> None:
    rv = str(api.resource_version)
    api.create(pod("p"))  # unscheduled: not on node a
    api.update(pod("p", node_name="a"))
    api.update(pod("p", node_name="b"))
    events = await watch_lines(
        api, "/api/v1/pods", 2, resourceVersion=rv, fieldSelector="spec.nodeName=a"
    )
    assert [(e["type"], e["object"]["spec"]["nodeName"]) for e in events] == [
        ("ADDED", "a"),
        ("DELETED", "a"),
    ]


async def test_too_old_watch_gets_410(api: FakeKubeAPI) -> None:
    rv = str(api.resource_version)
    api.create(pod("a"))
    api.compact()
    (event,) = await watch_lines(api, "/api/v1/pods", 1, resourceVersion=rv)
    assert event["type"] == "ERROR"
    assert (event["object"]["kind"], event["object"]["code"]) == ("Status", 410)
    api.gone_as_http = True
    status, body = await get(api, "/api/v1/pods", watch="1", resourceVersion=rv)
    assert (status, body["reason"]) == (410, "Expired")


async def test_bookmarks_carry_the_current_resource_version(api: FakeKubeAPI) -> None:
    rv = str(api.resource_version)
    api.create(node("n1"))  # moves the global RV; a pods watch sees no event for it
    api.send_bookmarks()  # no watcher yet: nothing
    async with aiohttp.ClientSession() as s:
        params = {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true"}
        async with s.get(api.url + "/api/v1/pods", params=params) as r:
            await api.wait_for_watches("pods")
            api.send_bookmarks()
            event = json.loads(await r.content.readline())
    assert event["type"] == "BOOKMARK"
    assert event["object"]["metadata"]["resourceVersion"] == str(api.resource_version)


async def test_bearer_token_is_required() -> None:
    async with FakeKubeAPI(token="s3cret", bookmark_interval=None) as api:
        status, body = await get(api, "/api/v1/pods")
        assert (status, body["reason"]) == (401, "Unauthorized")
        auth = {"Authorization": "Bearer s3cret"}
        async with aiohttp.ClientSession(headers=auth) as s, s.get(api.url + "/api/v1/pods") as r:
            assert r.status == 200
