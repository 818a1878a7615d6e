"""placement.place takes shortcuts for gangs (a pod after the first does not search the whole
cluster again); placement.place_plainly searches it for every pod. Both must pick the same nodes
on any cluster, and leave the ledger as it was. Runs without Django.
"""
from __future__ import annotations

from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.core import placement
from scheduling.core.ledger import Ledger
from scheduling.core.placement import place, place_plainly
from scheduling.core.types import Node, Request


@st.composite
def nodes(draw) -> list[Node]:
    out = []
    for i in range(draw(st.integers(1, 8))):
        gpu = draw(st.sampled_from([0, 2, 4, 8]))
        largest = None
        if draw(st.integers(0, 5)) == 0:  # now and then a pool known only by its sum
            largest = Request(draw(st.sampled_from([4, 8])), 16384, min(gpu, draw(st.sampled_from([1, 2, 4]))))
        out.append(Node(f"n{i}", cpu=draw(st.sampled_from([4, 8, 16])), memory_mb=draw(st.sampled_from([16384, 65536])),
                        gpu=gpu, gpu_class=draw(st.sampled_from(["a100", "v100"])),
                        labels={"zone": draw(st.sampled_from(["x", "y"]))}, largest=largest))
    return out


requests = st.builds(Request, cpu=st.sampled_from([0.5, 1, 2, 4, 8]), memory_mb=st.sampled_from([1024, 4096, 16384]),
                     gpu=st.sampled_from([0, 0, 1, 2, 4]))


@st.composite
def ledgers(draw) -> Ledger:
    """Nodes with work held on them, now and then more than a node has (free counts below zero)."""
    ledger = Ledger.build(draw(nodes()), {})
    for _ in range(draw(st.integers(0, 12))):
        i = draw(st.integers(0, len(ledger.nodes) - 1))
        ledger.hold("ads", draw(requests), [i] * draw(st.integers(1, 2)))
    return ledger


def state(ledger: Ledger) -> tuple:
    return (list(ledger.free_cpu), list(ledger.free_mem), list(ledger.free_gpu),
            [(list(p.free), {f: list(n) for f, n in p.by_free_gpu.items()}) for p in ledger.pools])


@settings(max_examples=400, deadline=None)
@given(ledgers(), requests, st.integers(1, 6), st.data())
def test_a_gang_goes_on_the_same_nodes_as_when_each_pod_searches_the_whole_cluster(ledger, request, gang, data):
    pools = sorted(data.draw(st.sets(st.integers(0, len(ledger.pools) - 1), min_size=1)))
    before, versions = state(ledger), [p.version for p in ledger.pools]

    fast = place(ledger, request, gang, pools)
    assert (state(ledger), [p.version for p in ledger.pools]) == (before, versions)  # not even a version bumped

    assert fast == place_plainly(ledger, request, gang, pools)
    assert state(ledger) == before


@st.composite
def busy_ledgers(draw) -> Ledger:
    """Many like nodes (long buckets), some already holding work."""
    count = draw(st.integers(2, 30))
    gpus = draw(st.sampled_from([0, 8]))
    ledger = Ledger.build([Node(f"n{i:02d}", cpu=8, memory_mb=32768, gpu=gpus, gpu_class="a100") for i in range(count)]
                          + [Node(f"m{i:02d}", cpu=4, memory_mb=32768, gpu=gpus, gpu_class="v100") for i in range(count // 2)], {})
    for _ in range(draw(st.integers(0, 2 * count))):
        ledger.hold("ads", draw(requests), [draw(st.integers(0, len(ledger.nodes) - 1))])
    return ledger


few_requests = st.sampled_from([Request(1, 4096, 0), Request(2, 8192, 0), Request(1, 4096, 1), Request(2, 8192, 4)])


@settings(max_examples=500, deadline=None)
@given(busy_ledgers(), st.lists(st.tuples(few_requests, st.integers(1, 3), st.integers(0, 3)), min_size=1, max_size=60))
def test_searches_that_skip_nodes_found_too_full_before_place_pods_as_a_whole_search_does(ledger, asks):
    scans: dict = {}
    placement.start_scans(ledger)
    held = []
    with patch.object(placement, "SHORT", 1):  # skip from a bucket's second node on
        for request, gang, then in asks:
            fast = placement.place_in(ledger, request, gang, ledger.pools, scans)

            assert fast == place_plainly(ledger, request, gang, range(len(ledger.pools)))
            if fast is not None and then:  # it starts, so later searches meet a fuller cluster
                ledger.hold("ads", request, fast)
                held.append((request, fast))
            elif held and not then:  # something ends: what was too full may fit again
                request, nodes = held.pop(0)
                ledger.release("ads", request, nodes)
