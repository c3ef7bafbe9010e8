"""Which search strategies an improver uses: the paper's taxonomy, decided from the code's structure.

Deterministic and multi-label. Each label comes with the evidence that triggered it. Names count only
when they are identifiers (``population``, ``ucb_score``): words inside prompt strings usually describe
the *solution* the model should write ("try simulated annealing"), not what the improver itself does.
Structure counts more than names:

- ``iterative_refinement``: a model call in a loop whose prompt depends on what earlier model calls in
  that loop returned (feedback). Reported only when no more specific search strategy explains the loop
  (beam search, genetic algorithm, annealing and bandits all feed results back too).
- ``temperature_variation``: model calls with two or more literal temperatures, or a temperature that is
  a loop variable, arithmetic, a subscript, a call, or a name rebound in the program.
- ``simulated_annealing``: a Metropolis test (``exp(...)`` compared with a random draw) or annealing names.
- ``bandit_ucb``: an upper-confidence bonus (``sqrt`` of a ``log``), an epsilon-greedy draw, or bandit names.
- ``beam_tree_search``: a loop that keeps the top k (``sorted(...)[:k]``, ``heapq.nlargest``) and expands
  each kept item with model calls, or beam/frontier names.
- ``genetic_algorithm``, ``decomposition``, ``ensembling``: their characteristic names (two GA words;
  one decomposition or ensembling word), or for decomposition a loop over the split-up solution that
  asks the model about each part.

An improver none of these describe gets ``plain`` when it asks the model (the seed's shape: sample,
keep the best) and ``no_model_calls`` when it never does, so every improver version has a label.

A model-judge mode (``judge_strategies``) is available behind a plain interface and is off by default.
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from selftaught.analysis.findings_store import Finding, FindingsTable
from selftaught.analysis.inventory import programs
from selftaught.analysis.syntax import (
    MAX_SOURCE_CHARS,
    Program,
    call_name,
    containing,
    dotted_name,
    stored_names,
)
from selftaught.store import RunStore
from selftaught.values import ChatRequest, Completion

ANALYZER = "strategies"
CATEGORIES = ("beam_tree_search", "genetic_algorithm", "simulated_annealing", "bandit_ucb", "decomposition",
              "temperature_variation", "iterative_refinement", "ensembling")
PLAIN, NO_MODEL = "plain", "no_model_calls"
#: Every label an improver can get, in display order.
LABELS = CATEGORIES + (PLAIN, NO_MODEL)
_SEARCH = {"beam_tree_search", "genetic_algorithm", "simulated_annealing", "bandit_ucb"}
_WORDS = {
    "beam_tree_search": {"beam", "frontier", "mcts", "bfs", "dfs"},
    "genetic_algorithm": {"population", "crossover", "mutate", "mutation", "mutations", "offspring", "genetic",
                          "evolve", "evolution", "evolutionary", "generations", "fittest"},
    "simulated_annealing": {"anneal", "annealing", "cooling", "metropolis"},
    "bandit_ucb": {"ucb", "bandit", "bandits", "thompson", "epsilon", "exploration", "exploit", "regret"},
    "decomposition": {"decompose", "decomposition", "subproblem", "subproblems", "parts", "chunks",
                      "sections", "components", "pieces", "segments", "subtasks"},
    "ensembling": {"ensemble", "ensembling", "vote", "votes", "voting", "majority", "consensus", "merge",
                   "merged", "aggregate"},
}
#: How many distinct characteristic names make a label (one is enough where the word is unambiguous).
_MIN_WORDS = {"genetic_algorithm": 2, "bandit_ucb": 1}
_TEMPERATURE_POSITION = {"batch_prompt": 2, "prompt": 3}
#: Innermost statement loops around a model call searched for feedback. Each loop's analysis reads its
#: whole body, so loops nested n deep cost n readings of the innermost code: capped, no real improver
#: nests loops this deep.
MAX_FEEDBACK_LOOPS = 12


class _Labels(dict):
    def add(self, label: str, evidence: str) -> None:
        self.setdefault(label, evidence)


def _model_call_sites(prog: Program) -> list[ast.Call]:
    """Direct model calls plus calls to local functions that (transitively) make one. Each function is
    walked once and the callers found by following the call graph backwards (a fixed point re-walking
    every function per round was quadratic in a chain of helpers)."""
    direct = set(prog.model_calls())
    functions = [n for n in prog.nodes() if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    called_from: dict[str, list[str]] = {}  # callee name -> names of the functions calling it
    found: list[str] = []
    for fn in functions:
        inner = [c for c in ast.walk(fn) if isinstance(c, ast.Call)]
        if any(c in direct for c in inner):
            found.append(fn.name)
        for c in inner:
            called_from.setdefault(call_name(c), []).append(fn.name)
    callers: set[str] = set()
    while found:
        name = found.pop()
        if name not in callers:
            callers.add(name)
            found += called_from.get(name, [])
    return [c for c in prog.calls() if c in direct or call_name(c) in callers]


def _assignments(scope: ast.AST) -> list[tuple[set[str], ast.AST]]:
    """(names bound, value) for assignments, loops and container mutations (``xs.append(v)``)."""
    out: list[tuple[set[str], ast.AST]] = []
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign):
            out.append(({n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}, node.value))
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None:
            root = dotted_name(node.target) or ""
            if isinstance(node.target, ast.Subscript):
                root = dotted_name(node.target.value) or ""
            out.append(({root.split(".")[0]}, node.value))
        elif isinstance(node, (ast.For, ast.comprehension)):
            out.append((stored_names(node.target), node.iter))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            root = (dotted_name(node.func.value) or "").split(".")[0]
            if root:
                out.append(({root}, ast.Tuple(elts=list(node.args), ctx=ast.Load())))
    return out


def _reads(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _fed_back(loop: ast.AST, sites: set[ast.Call]) -> set[str]:
    """Names bound in ``loop`` from a model reply, and everything computed from them there: a graph
    search over the loop's assignments, each read once."""
    binds = _assignments(loop)
    readers: dict[str, list[int]] = {}  # name -> assignments that read it
    for i, (_, value) in enumerate(binds):
        for name in _reads(value):
            readers.setdefault(name, []).append(i)
    todo = [name for names, value in binds
            if any(isinstance(sub, ast.Call) and sub in sites for sub in ast.walk(value)) for name in names]
    results: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in results:
            results.add(name)
            todo += [n for i in readers.pop(name, []) for n in binds[i][0]]
    return results


def _feedback(prog: Program, call: ast.Call, sites: set[ast.Call],
              fed: dict[ast.AST, set[str]] | None = None) -> ast.stmt | None:
    """The innermost statement loop in which the prompt of ``call`` (one of ``sites``) depends on earlier
    replies, if any. The prompt depends on them exactly when its arguments read a name fed back from a
    reply (every name such a name flows into is fed back too), so each loop is analysed once (``fed``
    caches it across call sites), not once per call site and round."""
    fed = {} if fed is None else fed
    args = set().union(*(_reads(a) for a in [*call.args, *(k.value for k in call.keywords)]))
    loops = [loop for loop in prog.enclosing_loops(call) if isinstance(loop, (ast.For, ast.While, ast.AsyncFor))]
    for loop in loops[:MAX_FEEDBACK_LOOPS]:
        if loop not in fed:
            fed[loop] = _fed_back(loop, sites)
        if args & fed[loop]:
            return loop
    return None


def _temperature_arg(call: ast.Call) -> ast.AST | None:
    temp = next((k.value for k in call.keywords if k.arg == "temperature"), None)
    pos = _TEMPERATURE_POSITION[call.func.attr]  # type: ignore[attr-defined]
    return call.args[pos] if temp is None and len(call.args) > pos else temp


def _temperature_exprs(prog: Program) -> list[ast.AST]:
    """Temperature expressions of the model calls; a parameter of a local helper is followed to the
    arguments its callers pass (``ask(msg, 0.2)``, ``ask(msg, 0.9)``). Calls are indexed by name once,
    and a helper's parameter is followed once, however many model calls use it (linear, not calls x
    calls)."""
    out: list[ast.AST] = []
    by_name: dict[str, list[ast.Call]] = {}
    for site in prog.calls():
        by_name.setdefault(call_name(site), []).append(site)
    followed: set[tuple[str, str]] = set()
    for call in prog.model_calls():
        expr = _temperature_arg(call)
        fn = next((a for a in prog.ancestors(call) if isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
        params = [a.arg for a in fn.args.args] if fn is not None else []
        if isinstance(expr, ast.Name) and expr.id in params and fn is not None and fn.name != "improve_algorithm":
            if (fn.name, expr.id) in followed:
                continue
            followed.add((fn.name, expr.id))
            i = params.index(expr.id)
            for site in by_name.get(fn.name, []):
                passed = next((k.value for k in site.keywords if k.arg == expr.id), None)
                passed = site.args[i] if passed is None and len(site.args) > i else passed
                if passed is not None:
                    out.append(passed)
        elif expr is not None:
            out.append(expr)
    return out


def _temperatures(prog: Program) -> tuple[set[float], list[ast.expr]]:
    """(literal temperatures, expressions whose value changes between calls)."""
    literals: set[float] = set()
    varying: list[ast.expr] = []
    loop_targets = {n for loop in prog.nodes() if isinstance(loop, (ast.For, ast.comprehension))
                    for n in stored_names(loop.target)}
    store_counts = Counter(n.id for n in prog.nodes() if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    for temp in _temperature_exprs(prog):
        if isinstance(temp, ast.Constant) and isinstance(temp.value, (int, float)):
            literals.add(float(temp.value))
        elif isinstance(temp, ast.Name):
            if temp.id in loop_targets or store_counts[temp.id] > 1:
                varying.append(temp)
        elif isinstance(temp, (ast.BinOp, ast.Subscript, ast.Call, ast.IfExp)):
            varying.append(temp)
    return literals, varying


@dataclass(frozen=True)
class _Sites:
    """The model call sites and what their arguments hold, gathered once per program (asking per loop
    made large programs quadratic)."""

    calls: frozenset[ast.Call]
    in_args: frozenset[ast.AST]  # every node inside an argument of a site
    args_read: frozenset[str]  # every name an argument of a site reads
    reaching: frozenset[ast.AST]  # every node whose subtree holds a site

    @classmethod
    def of(cls, prog: Program) -> _Sites:
        calls = _model_call_sites(prog)
        args = [a for c in calls for a in c.args]
        return cls(frozenset(calls), frozenset(n for a in args for n in ast.walk(a)),
                   frozenset(name for a in args for name in _reads(a)), frozenset(containing(prog, calls)))


def _asks_per_item(prog: Program, loop: ast.AST, sites: _Sites) -> bool:
    """Does each pass of ``loop`` reach the model: a model call inside a statement loop, or a
    comprehension whose items become prompts (directly in a call, or through the name it is bound to)?"""
    if isinstance(loop, (ast.For, ast.AsyncFor, ast.While)):
        return loop in sites.reaching
    comp = prog.parent(loop)
    if comp is None:
        return False
    if comp in sites.reaching or comp in sites.in_args:
        return True
    holder = next((a for a in prog.ancestors(comp) if isinstance(a, ast.stmt)), None)
    bound = {n.id for t in getattr(holder, "targets", []) for n in ast.walk(t) if isinstance(n, ast.Name)}
    return bool(bound & sites.args_read)


def _keeps_top_k(node: ast.AST) -> bool:
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and node.slice.upper is not None \
            and node.slice.lower is None:
        return isinstance(node.value, ast.Call) and call_name(node.value) in ("sorted", "heapq.nlargest")
    return isinstance(node, ast.Call) and call_name(node) in ("heapq.nlargest", "heapq.nsmallest")


def _structural(prog: Program, labels: _Labels) -> None:
    sites = _Sites.of(prog)
    split_names = _split_names(prog)
    # loops that keep the top k, and nodes strictly above a loop that asks the model per item: marked
    # once for the program (a walk of every loop's subtree per enclosing loop was cubic in nesting)
    top_k = containing(prog, [n for n in prog.nodes() if _keeps_top_k(n)])
    asking = [sub for sub in prog.nodes()
              if isinstance(sub, (ast.For, ast.comprehension)) and _asks_per_item(prog, sub, sites)]
    above_asking = containing(prog, [p for sub in asking if (p := prog.parent(sub)) is not None])
    for node in prog.nodes():
        if isinstance(node, (ast.Compare, ast.BoolOp)):
            called = {call_name(c).split(".")[-1] for c in ast.walk(node) if isinstance(c, ast.Call)}
            names = {n.id.lower() for n in ast.walk(node) if isinstance(n, ast.Name)}
            if "exp" in called and called & {"random", "rand", "uniform"}:
                labels.add("simulated_annealing", f"line {node.lineno}: Metropolis acceptance test")
            if called & {"random", "rand", "uniform"} and any("eps" in n for n in names):
                labels.add("bandit_ucb", f"line {node.lineno}: epsilon-greedy draw")
        elif isinstance(node, ast.Call) and call_name(node).split(".")[-1] == "sqrt" and any(
                isinstance(c, ast.Call) and call_name(c).split(".")[-1] == "log" for c in ast.walk(node)):
            labels.add("bandit_ucb", f"line {node.lineno}: upper-confidence bonus sqrt(log ...)")
        elif isinstance(node, (ast.For, ast.While)) and node in top_k and node in above_asking:
            labels.add("beam_tree_search", f"line {node.lineno}: keeps the top k and expands each")
        if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)) and _asks_per_item(prog, node, sites) \
                and (_splits(node.iter, prog) or (isinstance(node.iter, ast.Name) and node.iter.id in split_names)):
            labels.add("decomposition", f"line {node.iter.lineno}: asks the model about each part of "
                       "the split-up solution")
    literals, varying = _temperatures(prog)
    if len(literals) >= 2:
        labels.add("temperature_variation", f"temperatures {sorted(literals)}")
    elif varying:
        labels.add("temperature_variation", f"line {varying[0].lineno}: temperature varies")


def _splits(node: ast.AST, prog: Program) -> bool:
    """Does ``node`` cut the solution into pieces: ``s.split(...)``, ``ast.parse(s).body``, ``ast.walk``?"""
    return any(isinstance(c, ast.Call) and (call_name(c).split(".")[-1] in ("split", "splitlines")
                                             or prog.qualified(c) in ("ast.parse", "ast.walk"))
               for c in ast.walk(node))


def _split_names(prog: Program) -> set[str]:
    """Names bound anywhere in the program to the solution cut into pieces (computed once per program:
    asking per loop made large programs quadratic)."""
    return {name for names, value in _assignments(prog.tree) if _splits(value, prog)  # type: ignore[arg-type]
            for name in names}


def classify(source: str) -> dict[str, str]:
    """{label: evidence} for one improver: the paper's categories it uses, else ``plain`` (it samples and
    keeps the best, like the seed) or ``no_model_calls``; empty only when it does not parse."""
    prog = Program.parse(source)
    if not prog.ok:
        return {}
    labels = _Labels()
    _structural(prog, labels)
    words = prog.identifier_words()
    for label, vocabulary in _WORDS.items():
        hit = sorted(words & vocabulary)
        if len(hit) >= _MIN_WORDS.get(label, 1) or (label == "genetic_algorithm" and {"crossover", "genetic"} & words):
            labels.add(label, "names: " + ", ".join(hit))
    if not labels.keys() & _SEARCH:
        sites = _model_call_sites(prog)
        site_set, fed = set(sites), dict[ast.AST, set[str]]()
        for call in sites:
            loop = _feedback(prog, call, site_set, fed)
            if loop is not None:
                labels.add("iterative_refinement", f"line {call.lineno}: prompt built from earlier replies in "
                           f"the loop at line {loop.lineno}")
                break
    if not labels:
        if _model_call_sites(prog):
            labels.add(PLAIN, "asks the model and keeps a result; no search strategy")
        else:
            labels.add(NO_MODEL, "never calls the language model")
    return {label: labels[label] for label in LABELS if label in labels}


def classify_run(run_dir: Path, judge: CompletionModel | None = None) -> list[Finding]:
    """Label every improver of a run (rules; plus the judge's labels when one is given) and record them."""
    store = RunStore(Path(run_dir))
    try:
        refs = [r for r in programs(store) if r.kind == "improver"]
    finally:
        store.close()
    findings = []
    for ref in refs:
        ev = {"origin": ref.origin, "model_written": ref.model_written}
        findings += [Finding(ANALYZER, label, "info", "improver", ref.hash, why, evidence={**ev, "by": "rules"})
                     for label, why in classify(ref.source).items()]
        if judge is not None and len(ref.source) <= MAX_SOURCE_CHARS:  # a larger one: the audit says why
            findings += [Finding(ANALYZER, label, "info", "improver", ref.hash, "model judge",
                                 evidence={**ev, "by": "judge"}) for label in judge_strategies(ref.source, judge)]
    with FindingsTable(Path(run_dir)) as table:
        table.replace(ANALYZER, findings)
    return findings


def strategy_counts(findings: list[Finding], *, by: str = "rules", model_written_only: bool = True) -> Counter[str]:
    """Improvers per label (each improver counted once per label)."""
    seen = {(f.rule, f.subject) for f in findings if f.analyzer == ANALYZER and f.evidence.get("by") == by
            and (f.evidence.get("model_written") or not model_written_only)}
    return Counter(label for label, _ in seen)


def counts_across_runs(per_run: dict[str, list[Finding]], *, by: str = "rules",
                       model_written_only: bool = True) -> dict[str, Counter[str]]:
    """{run: label counts} plus a ``total`` row: the paper's figure, over one run or many."""
    rows = {run: strategy_counts(f, by=by, model_written_only=model_written_only) for run, f in per_run.items()}
    total: Counter[str] = Counter()
    for counts in rows.values():
        total.update(counts)
    return {**rows, "total": total}


# ---- optional model judge (off by default) ------------------------------------------------------------

class CompletionModel(Protocol):
    """Anything with ``complete(request)`` returning a string or a ``Completion`` (every selftaught model
    provider qualifies; analysis does not import them, only their value types)."""

    def complete(self, request: ChatRequest) -> str | Completion: ...


_JUDGE_SYSTEM = "You classify Python programs that call a language model to improve code. Answer briefly."


def judge_strategies(source: str, model: CompletionModel, *, model_name: str = "judge") -> set[str]:
    """Labels a model assigns to an improver: the category names that appear in its reply."""
    user = ("Which of these strategies does the program below use? Answer with the matching names only, "
            "comma-separated, or 'none'.\n" + "\n".join(f"- {c}" for c in CATEGORIES)
            + f"\n\n```python\n{source}\n```")
    reply = model.complete(ChatRequest(model=model_name, system=_JUDGE_SYSTEM, user=user, temperature=0.0,
                                       max_tokens=200, seed=0))
    text = reply if isinstance(reply, str) else reply.text
    words = {w.strip(" .,;:`'\"-*[]()").lower() for w in text.replace(",", " ").split()}
    return {c for c in CATEGORIES if c in words}


