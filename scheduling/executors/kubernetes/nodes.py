"""Node capacity: allocatable cpu, memory and GPUs of the ready, schedulable nodes, by GPU class,
kept current by a watch on the nodes (a node added, removed, cordoned or no longer ready changes
it at once)."""
from __future__ import annotations

import math
import queue
import re
import threading

from ...core.types import Capacity, Node, Request
from .manifests import GPU_RESOURCE
from .streams import ListCall, Stream, WatchCall

_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIX = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "Ki": 2**10, "Mi": 2**20,
           "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}


def parse_quantity(text: str | int | float) -> float:
    """A Kubernetes quantity ("7500m", "32Gi", "4") as a number of base units."""
    m = _QUANTITY.match(str(text).strip())
    if not m or m[2] not in _SUFFIX:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    return float(m[1]) * _SUFFIX[m[2]]


def schedulable_nodes(nodes: list[dict], gpu_class_label: str) -> list[Node]:
    """The ready, schedulable nodes with their allocatable cpu, memory, GPUs and GPU class."""
    found = []
    for n in nodes:
        if (n.get("spec") or {}).get("unschedulable"):
            continue
        conditions = (n.get("status") or {}).get("conditions") or ()
        if any(c.get("type") == "Ready" and c.get("status") != "True" for c in conditions):
            continue
        allocatable = (n.get("status") or {}).get("allocatable") or {}
        labels = (n.get("metadata") or {}).get("labels") or {}
        found.append(Node(
            n["metadata"]["name"], round(parse_quantity(allocatable.get("cpu", 0)), 3),
            math.floor(parse_quantity(allocatable.get("memory", 0)) / 2**20),
            int(parse_quantity(allocatable.get(GPU_RESOURCE, 0))), labels.get(gpu_class_label, ""), dict(labels)))
    return found


def capacity_by_class(nodes: list[Node]) -> dict[str, Capacity]:
    """Totals by GPU class ("" for nodes without one), each with its largest node and its nodes."""
    grouped: dict[str, list[Node]] = {}
    for n in nodes:
        grouped.setdefault(n.gpu_class, []).append(n)
    return {
        gpu_class: Capacity(sum(n.cpu for n in ns), sum(n.memory_mb for n in ns), sum(n.gpu for n in ns),
                            largest_node=_as_request(max(ns, key=lambda n: (n.gpu, n.cpu, n.memory_mb))),
                            nodes=tuple(ns))
        for gpu_class, ns in grouped.items()
    }


def _as_request(n: Node) -> Request:
    return Request(n.cpu, n.memory_mb, n.gpu, n.gpu_class)



def total_capacity(by_class: dict[str, Capacity]) -> Capacity:
    """All classes together; the largest node is the largest per resource, so that validation
    refuses only what fits on no node at all."""
    total = Capacity(sum(c.cpu for c in by_class.values()), sum(c.memory_mb for c in by_class.values()),
                     sum(c.gpu for c in by_class.values()))
    largest = [c.largest_node for c in by_class.values() if c.largest_node]
    if not largest:
        return total
    return Capacity(total.cpu, total.memory_mb, total.gpu, largest_node=Request(
        max(n.cpu for n in largest), max(n.memory_mb for n in largest), max(n.gpu for n in largest)),
        nodes=tuple(n for c in by_class.values() for n in c.nodes))


class NodeWatch:
    """The cluster's nodes, listed once and then kept current by a watch in a thread of its own.

    ``capacity_by_class()`` answers from memory. Until the first list has arrived it waits for it
    (at most ``first_list_s``); a cut or stale watch is resumed or relisted by its Stream, and a
    node deleted, cordoned or no longer ready leaves the capacity as its event arrives.
    """

    def __init__(self, *, list_: ListCall, watch_: WatchCall, gpu_class_label: str, watch_timeout_s: float,
                 backoff_max_s: float, first_list_s: float = 10.0):
        self.gpu_class_label = gpu_class_label
        self.first_list_s = first_list_s
        self._nodes: dict[str, dict] = {}
        self._by_class: dict[str, Capacity] | None = None
        self._listed = threading.Event()
        self._lock = threading.Lock()
        self._inbox: queue.Queue = queue.Queue()
        self._stream = Stream("nodes", list_=list_, watch_=watch_, rv=None, inbox=self._inbox,
                              watch_timeout_s=watch_timeout_s, backoff_max_s=backoff_max_s)
        self._applier = threading.Thread(target=self._apply_forever, daemon=True, name="k8s-node-capacity")
        self._started = False
        self._stopping = threading.Event()

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        self._stream.start()
        self._applier.start()

    def stop(self) -> None:
        self._stopping.set()
        self._stream.stop()
        self._inbox.put(None)

    def capacity_by_class(self) -> dict[str, Capacity]:
        self.start()
        if not self._listed.wait(self.first_list_s):
            raise TimeoutError(f"the cluster's nodes could not be listed within {self.first_list_s:g} s")
        with self._lock:
            return self._by_class or {}

    def _apply_forever(self) -> None:
        while not self._stopping.is_set():
            item = self._inbox.get()
            if item is None:
                return
            batch = [item]
            while True:  # a burst of node events is applied, and capacity recomputed, once
                try:
                    more = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    return
                batch.append(more)
            with self._lock:
                for _, what, payload, _ in batch:
                    self._take(what, payload)
                self._by_class = capacity_by_class(schedulable_nodes(list(self._nodes.values()),
                                                                     self.gpu_class_label))
            self._listed.set()

    def _take(self, what: str, payload) -> None:
        if what == "relist":
            self._nodes = {n["metadata"]["name"]: n for n in payload}
        elif what in ("ADDED", "MODIFIED"):
            self._nodes[payload["metadata"]["name"]] = payload
        elif what == "DELETED":
            self._nodes.pop(payload["metadata"]["name"], None)
