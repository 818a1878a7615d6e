"""The fake cluster behaves as the real API does where Trellis depends on it, as seen by the
real client: strict models, 409, deletion propagation, 410 and bookmarks on watches."""
from __future__ import annotations

import time

import pytest
from kubernetes import client, watch

from tests.fakes.kube import FakeCluster, Outcome, node

JOB = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "labels": {"app": "t"}},
       "spec": {"backoffLimit": 0, "template": {"metadata": {"labels": {"app": "t"}}, "spec": {
           "restartPolicy": "Never", "containers": [{"name": "step", "image": "busybox", "command": ["true"],
                                                     "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}}]}}}}


@pytest.fixture
def cluster():
    with FakeCluster(nodes=[node("n1")]) as c:
        yield c


@pytest.fixture
def apis(cluster):
    api = cluster.api_client()
    return client.BatchV1Api(api), client.CoreV1Api(api)


def _wait(predicate, timeout_s=5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("timed out")


def test_a_duplicate_create_is_409_already_exists(apis):
    batch, _ = apis
    batch.create_namespaced_job("ns", JOB)
    with pytest.raises(client.ApiException) as caught:
        batch.create_namespaced_job("ns", JOB)
    assert caught.value.status == 409 and '"reason": "AlreadyExists"' in caught.value.body


def test_jobs_and_pods_deserialise_into_the_clients_strict_models(apis, cluster):
    batch, core = apis
    cluster.on("j", Outcome.exit(3))
    batch.create_namespaced_job("ns", JOB)
    _wait(lambda: batch.read_namespaced_job("j", "ns").status.failed)
    pod = core.list_namespaced_pod("ns", label_selector="job-name=j").items[0]
    assert pod.status.container_statuses[0].state.terminated.exit_code == 3
    assert batch.read_namespaced_job("j", "ns").status.conditions[0].type == "Failed"
    events = [(e["type"], type(e["object"]).__name__) for e in watch.Watch().stream(
        core.list_namespaced_pod, "ns", resource_version="0", timeout_seconds=1)]
    assert events == [("ADDED", "V1Pod")]


def test_deleting_a_job_without_a_propagation_policy_orphans_its_pods(apis, cluster):
    batch, core = apis
    cluster.on("j", Outcome.hang())
    batch.create_namespaced_job("ns", JOB)
    _wait(lambda: cluster.pods())
    batch.delete_namespaced_job("j", "ns")
    time.sleep(0.05)
    pods = core.list_namespaced_pod("ns").items
    assert len(pods) == 1 and not pods[0].metadata.owner_references


@pytest.mark.parametrize("policy", ["Foreground", "Background"])
def test_deleting_a_job_with_a_propagation_policy_deletes_its_pods(apis, cluster, policy):
    batch, core = apis
    cluster.on("j", Outcome.hang())
    batch.create_namespaced_job("ns", JOB)
    _wait(lambda: cluster.pods())
    batch.delete_namespaced_job("j", "ns", propagation_policy=policy)
    _wait(lambda: not core.list_namespaced_pod("ns").items)


def test_a_watch_from_a_compacted_resource_version_is_410_gone(apis, cluster):
    _, core = apis
    core.create_namespaced_persistent_volume_claim("ns", {"metadata": {"name": "c"}, "spec": {}})
    cluster.compact()
    with pytest.raises(client.ApiException) as caught:
        list(watch.Watch().stream(core.list_namespaced_persistent_volume_claim, "ns", resource_version="1",
                                  timeout_seconds=1))
    assert caught.value.status == 410


def test_a_watch_ends_at_its_timeout_and_sends_bookmarks_when_asked():
    with FakeCluster(bookmark_interval_s=0.2) as cluster:
        core = client.CoreV1Api(cluster.api_client())
        started = time.monotonic()
        types = [e["type"] for e in watch.Watch().stream(core.list_node, resource_version="1", timeout_seconds=1,
                                                         allow_watch_bookmarks=True)]
        assert 0.9 < time.monotonic() - started < 2
        assert types and set(types) == {"BOOKMARK"}


def test_label_selectors_filter_lists(apis, cluster):
    _, core = apis
    for name, labels in [("a", {"team": "x", "tier": "1"}), ("b", {"team": "y"}), ("c", {})]:
        core.create_namespaced_persistent_volume_claim("ns", {"metadata": {"name": name, "labels": labels}, "spec": {}})
    names = lambda sel: sorted(p.metadata.name for p in core.list_namespaced_persistent_volume_claim(
        "ns", label_selector=sel).items)
    assert names("team=x") == ["a"]
    assert names("team!=x") == ["b", "c"]
    assert names("team") == ["a", "b"] and names("!team") == ["c"]
    assert names("team in (x,y),tier notin (2)") == ["a", "b"]


def test_the_fake_answers_hundreds_of_requests_a_second(apis):
    batch, _ = apis
    batch.create_namespaced_job("ns", JOB)
    started = time.perf_counter()
    for _ in range(200):
        batch.read_namespaced_job("j", "ns")
    assert 200 / (time.perf_counter() - started) > 300  # ~45 ms each with Nagle's algorithm on
