"""Does a program patch the clocks, CPU accounting or random generators it is judged by?

A program that replaces ``time.process_time`` in its own interpreter can forge the CPU time its limits are
checked against; one that replaces ``random.seed`` or ``numpy.random.get_state`` can steer or read the
randomness behind its instances. Calling these functions is ordinary (and ``timing-or-randomness`` covers
it); *writing* to them is not. Read from the AST, like every other detector, through every spelling we
know of:

- an assignment or ``del`` of an attribute under a watched name, however the module was reached:
  ``time.process_time = f``, ``import time as t; t.process_time = f``, ``np.random.set_state = f``,
  ``importlib.import_module("time").perf_counter = f``, ``sys.modules["time"].time = f``, a local name
  bound to one of those, ``time.process_time.__code__ = ...``;
- ``setattr``/``delattr`` (``object.__setattr__``, ``time.__setattr__``) on such a module;
- writes through a module's namespace: ``vars(time)[...] = f``, ``time.__dict__.update(...)``;
- anything that replaces modules or the import machinery: writes to ``sys.modules`` (``sys.modules["time"]
  = fake``, ``.update``, ``del``) and to ``builtins.__import__`` / ``__builtins__``;
- (low) rebinding a name imported from a watched module (``from time import process_time`` then
  ``process_time = ...``): it changes only the program's own name, but says what the program is after.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from selftaught.analysis.syntax import Program, call_name

#: Names whose replacement forges a measurement or an instance: module prefixes and single functions,
#: the harness's own modules included (``__main__`` and ``selftaught`` are the worker's, never a program's).
WATCHED = ("time", "random", "numpy.random", "timeit", "datetime", "resource", "os.times", "os.wait3",
           "os.wait4", "builtins.__import__", "sys.modules", "importlib.import_module", "__main__", "selftaught")
_IMPORTERS = {"importlib.import_module", "__import__", "builtins.__import__"}
_SETTERS = {"setattr", "delattr", "builtins.setattr", "builtins.delattr"}
_DUNDER_SETTERS = {"__setattr__", "__delattr__"}
_MUTATORS = {"update", "__setitem__", "__delitem__", "setdefault", "pop", "popitem", "clear"}


@dataclass(frozen=True)
class Patch:
    node: ast.AST
    target: str  # what is replaced: ``time.process_time``, ``sys.modules[time]``, ``os.*``
    severity: str


def watched(name: str) -> bool:
    """Is ``name`` (``mod.attr``, or ``mod.*`` for an unknown attribute) one of ``WATCHED`` or under it?"""
    if name.endswith(".*"):
        base = name[:-2]
        return watched(base) or any(w.startswith(base + ".") for w in WATCHED)
    return any(name == w or name.startswith(w + ".") for w in WATCHED)


class _Resolver:
    """What a Name/Attribute/Call/Subscript expression denotes, as a dotted name (``time.perf_counter``),
    through imports and local names bound to modules; None for anything that is not a module path."""

    def __init__(self, prog: Program) -> None:
        self.aliases = dict(prog.aliases)
        self.aliases["__builtins__"] = "builtins"
        for node in prog.nodes():  # m = importlib.import_module("time"), t = time, ...
            if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and (name := self.resolve(node.value)) is not None):
                self.aliases[node.targets[0].id] = name

    def resolve(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base is not None else None
        if isinstance(node, ast.Call):
            name = self.resolve(node.func) or call_name(node)
            key = _constant(node.args[0]) if node.args else None
            if name in _IMPORTERS or name == "sys.modules.get":
                return key or ("sys.modules" if name == "sys.modules.get" else None)
            if name in ("vars", "builtins.vars") and node.args:
                base = self.resolve(node.args[0])
                return f"{base}.__dict__" if base is not None else None
            return None
        if isinstance(node, ast.Subscript) and self.resolve(node.value) == "sys.modules":
            key = _constant(node.slice)
            if isinstance(node.slice, ast.Name) and node.slice.id == "__name__":
                return None  # the program's own module
            return key or "sys.modules"
        return None

    def item(self, container: ast.AST, key: ast.AST | None) -> str | None:
        """The name written by ``container[key] = ...``, if the container is a watched namespace."""
        owner = self.resolve(container)
        if owner is None:
            return None
        if owner == "sys.modules":
            return f"sys.modules[{_constant(key) or '?'}]" if key is not None else "sys.modules"
        owner = owner.removesuffix(".__dict__")
        return f"{owner}.{_constant(key) or '*'}" if key is not None else f"{owner}.*"


def _constant(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, (ast.Assign, ast.Delete)):
        return node.targets
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return [node.target]
    return []


def _written(res: _Resolver, target: ast.AST) -> str | None:
    if isinstance(target, ast.Attribute):
        return res.resolve(target)
    if isinstance(target, ast.Subscript):
        return res.item(target.value, target.slice)
    return None


def _setattr_args(res: _Resolver, call: ast.Call) -> list[ast.AST]:
    """(object, name, ...) of a setattr-like call: ``setattr(o, n, v)``, ``object.__setattr__(o, n, v)``,
    ``o.__setattr__(n, v)``; [] for any other call."""
    if (res.resolve(call.func) or call_name(call)) in _SETTERS:
        return list(call.args)
    if isinstance(call.func, ast.Attribute) and call.func.attr in _DUNDER_SETTERS:
        receiver = call.func.value
        return [receiver, *call.args] if res.resolve(receiver) is not None else list(call.args)
    return []


def _call_patch(res: _Resolver, call: ast.Call) -> str | None:
    if args := _setattr_args(res, call):
        owner = res.resolve(args[0])
        attr = _constant(args[1]) if len(args) > 1 else None
        return f"{owner}.{attr or '*'}" if owner is not None else None
    if isinstance(call.func, ast.Attribute) and call.func.attr in _MUTATORS:
        owner = res.resolve(call.func.value)
        if owner == "sys.modules" or (owner or "").endswith(".__dict__"):
            return res.item(call.func.value, None)
    return None


def patches(prog: Program) -> Iterator[Patch]:
    """Every place ``prog`` replaces (or deletes) a watched name, in tree order."""
    if not prog.ok:
        return
    res = _Resolver(prog)
    rebindable = {local: full for local, full in prog.aliases.items() if "." in full and watched(full)}
    for node in prog.nodes():
        for target in _targets(node):
            for sub in ast.walk(target):
                if not isinstance(getattr(sub, "ctx", None), (ast.Store, ast.Del)):
                    continue  # ``a.b.c = x`` writes ``c``; ``a.b`` is only read
                written = _written(res, sub)
                if written is not None and (watched(written) or written.startswith("sys.modules")):
                    yield Patch(node, written, "high")
                elif isinstance(sub, ast.Name) and sub.id in rebindable and not isinstance(node, ast.Delete):
                    yield Patch(node, rebindable[sub.id], "low")
        if isinstance(node, ast.Call) and (written := _call_patch(res, node)) is not None and watched(written):
            yield Patch(node, written, "high")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in rebindable:
            yield Patch(node, rebindable[node.name], "low")


__all__ = ["WATCHED", "Patch", "patches", "watched"]
