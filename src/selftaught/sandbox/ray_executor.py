"""Ray executor: sandboxed workers on every node of a Ray cluster, budgets and model kept in the host.

Why this shape. Each node runs one ``NodeSandbox`` actor that owns that node's *local* executor (the
same sandbox tiers as a single machine: nothing about isolation is re-implemented here), so a program
runs sandboxed on whichever node has room. What must not leave the host does not: the model client and
its credentials, the budgets and their counters, the store, the held-out instances' checkers. A
program's ``utility`` / ``language_model`` calls therefore come back to the host: the actor runs the
program's call in a thread whose RPC handler forwards each frame as an *event*; the host polls
``next_event``, serves the frame with its own handler (budgets, recorder, scorer), and sends the
``reply``. So the improver-run handler loop stays in the host while the program executes on the node.

What crosses the cluster is plain data: source text, arguments, JSON-decoded results (the local
executor has already parsed the guest's frames as JSON). Guest code is unchanged and never sees Ray.

Multi-node use is documented in docs/scale.md. Ray is imported lazily: only this executor needs it.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any

from selftaught.errors import MissingExtra, SandboxUnavailable
from selftaught.sandbox import ray_local
from selftaught.sandbox.executor import (
    CallHandler,
    CallResult,
    Executor,
    HostileCall,
    RefusedCall,
    Worker,
    serve_rpc,
)
from selftaught.sandbox.limits import Limits, Verdict

#: Verdicts after which the worker process is gone (see ``Worker``).
_ALIVE_AFTER = (Verdict.OK, Verdict.ERROR)
_POLL_SECONDS = 5.0


class _Aborted(Exception):
    """The host gave up on a call (its handler raised, e.g. a run-wide cost cap): kill the program."""


class _Call:
    """One program call with RPCs, running in an actor thread; events flow to the host, replies back."""

    def __init__(self) -> None:
        self.events: queue.Queue[tuple] = queue.Queue()
        self.replies: queue.Queue[dict | None] = queue.Queue()

    def handler(self, target: str, method: str, args: list) -> Any:
        self.events.put(("rpc", target, method, args))
        reply = self.replies.get()
        if reply is None:
            raise _Aborted
        if not reply["ok"]:
            raise RefusedCall(reply["error"])
        return reply["value"]


class NodeSandbox:
    """Runs on one node (as a threaded Ray actor): that node's sandboxed workers, by id."""

    def __init__(self, executor: str = "local") -> None:
        from selftaught import plugins

        self.executor: Executor = plugins.build("executor", executor, {})
        self.workers: dict[int, Worker] = {}
        self.calls: dict[int, _Call] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        import ray

        return {"node": ray.get_runtime_context().get_node_id(), "tier": self.executor.tier,
                "isolated": self.executor.isolated}

    def spawn(self, limits: Limits) -> int:
        worker = self.executor.spawn(limits)
        with self._lock:
            wid = next(self._ids)
            self.workers[wid] = worker
        return wid

    def load(self, wid: int, source: str) -> tuple[CallResult, bool]:
        worker = self.workers[wid]
        res = worker.load(source)
        return res, worker.alive

    def call(self, wid: int, fn: str, args: list, seed: int | None, wall: float | None) -> tuple[CallResult, bool]:
        worker = self.workers[wid]
        res = worker.call(fn, args, seed=seed, wall_seconds=wall)
        return res, worker.alive

    def start_call(self, wid: int, fn: str, args: list, seed: int | None, wall: float | None) -> int:
        """Start a call whose RPCs the host serves (see ``next_event``/``reply``)."""
        worker, call = self.workers[wid], _Call()
        with self._lock:
            cid = next(self._ids)
            self.calls[cid] = call

        def go() -> None:
            try:
                res = worker.call(fn, args, seed=seed, handler=call.handler, wall_seconds=wall)
                call.events.put(("done", res, worker.alive))
            except _Aborted:
                worker.close()
                call.events.put(("aborted",))
            except Exception as exc:  # noqa: BLE001 - a bug here must reach the host, not die in a thread
                worker.close()
                call.events.put(("failed", f"{type(exc).__name__}: {exc}"))

        threading.Thread(target=go, name=f"call-{cid}", daemon=True).start()
        return cid

    def next_event(self, cid: int) -> tuple:
        try:
            event = self.calls[cid].events.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            return ("wait",)
        if event[0] != "rpc":
            with self._lock:
                self.calls.pop(cid, None)
        return event

    def reply(self, cid: int, reply: dict | None) -> None:
        self.calls[cid].replies.put(reply)

    def close(self, wid: int) -> None:
        with self._lock:
            worker = self.workers.pop(wid, None)
        if worker is not None:
            worker.close()

    def shutdown(self) -> None:
        """Kill every program still running on this node (before the actor itself goes)."""
        for call in list(self.calls.values()):
            call.replies.put(None)
        for wid in list(self.workers):
            self.close(wid)
        self.executor.close()


class RayWorker(Worker):
    """Host-side handle of one sandboxed worker on some node."""

    def __init__(self, actor: Any, wid: int, on_close: Callable[[], None]) -> None:
        self.actor = actor
        self.wid: int | None = wid  # None once closed
        self._alive = True
        self._on_close = on_close

    def _get(self, ref: Any) -> Any:
        import ray

        try:
            return ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            self._alive = False
            raise SandboxUnavailable(f"the Ray node running this program went away ({exc}); check the "
                                     "cluster (ray status) and resume the run") from exc

    def load(self, source: str) -> CallResult:
        res, self._alive = self._get(self.actor.load.remote(self.wid, source))
        return res

    def call(self, fn: str, args: list, *, seed: int | None = None, handler: CallHandler | None = None,
             wall_seconds: float | None = None) -> CallResult:
        if handler is None:
            res, self._alive = self._get(self.actor.call.remote(self.wid, fn, args, seed, wall_seconds))
            return res
        cid = self._get(self.actor.start_call.remote(self.wid, fn, args, seed, wall_seconds))
        while True:
            event = self._get(self.actor.next_event.remote(cid))
            kind = event[0]
            if kind == "wait":
                continue
            if kind == "done":
                self._alive = event[2]
                return event[1]
            if kind != "rpc":
                self._alive = False
                detail = ": ".join(map(str, event))  # ("failed", "ZygoteError: ...") or ("aborted",)
                raise SandboxUnavailable(f"the sandbox on a Ray node failed a call ({detail}); check that node "
                                         "(selftaught doctor there) and resume the run")
            try:
                reply = serve_rpc(handler, event[1], event[2], event[3])
            except HostileCall as exc:
                self.actor.reply.remote(cid, None)  # the program is killed; the host goes on
                self._alive = False
                return CallResult(Verdict.PROTOCOL, error=str(exc))
            except BaseException:
                self.actor.reply.remote(cid, None)  # the program is killed; the host's error goes on up
                self._alive = False
                raise
            self.actor.reply.remote(cid, reply)

    @property
    def alive(self) -> bool:
        return self._alive

    def close(self) -> None:
        import ray

        if self.wid is None:
            return
        try:
            ray.get(self.actor.close.remote(self.wid))
        except ray.exceptions.RayError:
            pass  # the node is gone, and its programs with it
        finally:
            self._on_close()
            self.wid, self._alive = None, False


class RayExecutor(Executor):
    """One ``NodeSandbox`` per alive node; a new worker goes to the node with the most free CPUs."""

    def __init__(self, ray_address: str | None = None, node_executor: str = "local") -> None:
        try:
            import ray
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
        except ImportError as exc:
            raise MissingExtra("the executor 'ray'", "ray") from exc
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            try:
                if ray_address is None:  # a private single-node Ray on loopback, stopped again by close()
                    ray_local.start(ray)
                else:
                    ray.init(address=ray_address, include_dashboard=False, log_to_driver=False,
                             configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise SandboxUnavailable(f"cannot join the Ray cluster at {ray_address or 'local'}: {exc}; "
                                         "start it (ray start --head) or fix sandbox.ray_address") from None
        actor_cls = ray.remote(NodeSandbox)
        nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
        if not nodes:
            raise SandboxUnavailable("the Ray cluster has no alive node with CPUs; add one (ray start "
                                     "--address HEAD:6379)")
        # num_cpus=0: the actor only relays; the CPU goes to the sandboxed programs it starts, which the
        # host bounds by the cluster's CPU count (``cpus``, used by the engine's CPU slots).
        self.actors: list[Any] = [actor_cls.options(
            num_cpus=0, max_concurrency=256,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=n["NodeID"], soft=False),
        ).remote(node_executor) for n in nodes]
        self._capacity = [float(n["Resources"]["CPU"]) for n in nodes]
        self._load = [0] * len(nodes)
        described = ray.get([a.describe.remote() for a in self.actors])
        self.nodes = [d["node"] for d in described]
        self._tier = "ray+" + "/".join(sorted({d["tier"] for d in described}))
        # as isolated as the weakest node: one node that fell back to tier C makes the cluster unsandboxed
        self._isolated = all(d["isolated"] for d in described)
        self.node_tiers = {d["node"]: d["tier"] for d in described}
        self._lock = threading.Lock()

    @property
    def tier(self) -> str:
        return self._tier

    @property
    def isolated(self) -> bool:
        return self._isolated

    @property
    def cpus(self) -> int:
        """The cluster's CPUs (the host bounds the sandboxed programs it runs at once by them)."""
        return max(1, int(sum(self._capacity)))

    def describe(self) -> str:
        nodes = "; ".join(f"node {node[:8]}: {tier}" for node, tier in self.node_tiers.items())
        return f"tier '{self.tier}' on {len(self.node_tiers)} node(s), {self.cpus} CPUs ({nodes})"

    def _pick(self) -> int:
        with self._lock:
            i = min(range(len(self.actors)), key=lambda k: self._load[k] / self._capacity[k])
            self._load[i] += 1
            return i

    def _release(self, i: int) -> None:
        with self._lock:
            self._load[i] -= 1

    def spawn(self, limits: Limits) -> Worker:
        import ray

        i = self._pick()
        try:
            wid = ray.get(self.actors[i].spawn.remote(limits))
        except BaseException:
            self._release(i)
            raise
        return RayWorker(self.actors[i], wid, lambda: self._release(i))

    def close(self) -> None:
        import ray

        try:
            ray.get([a.shutdown.remote() for a in self.actors], timeout=60)
        finally:
            for a in self.actors:
                ray.kill(a)
            self.actors = []
            if self._owns_ray:
                ray.shutdown()
