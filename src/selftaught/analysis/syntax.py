"""Reading model-written programs for static analysis: the AST only, never regex, never executed.

Audit, reward-hacking and strategy detectors all ask the same questions of a program (what does this
call resolve to, which loops enclose this node, which identifiers does it use), so they are answered
once here. A program that does not parse is still a ``Program`` (with ``tree`` None and the error), so
callers can report it instead of crashing on it.

Model-written code is hostile input: ``Program.parse`` is the one place analysis and report turn source
into a tree, and it never raises. Besides syntax errors it absorbs what ``ast`` itself cannot handle (null
bytes, unencodable surrogates, nesting that overflows the parser or the stack) and refuses, before or
right after parsing, programs beyond two limits: ``MAX_SOURCE_CHARS`` (the time and memory a parse and
the detectors' walks cost grow with it) and ``MAX_DEPTH`` (recursive visitors such as ``ast.unparse``
use about three stack frames per level). Every walk below is iterative (``ast.walk``) or bounded by that
depth.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from selftaught.guest.helpers import extract_code

#: Method names through which an improver reaches the language model (the paper's interface).
MODEL_METHODS = frozenset({"batch_prompt", "prompt"})
LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.comprehension)
#: Longest program analysed, in characters. Model-written programs are a few thousand; parsing and walking
#: cost time and memory in proportion, so a larger one is reported (``beyond_limits``), not read.
MAX_SOURCE_CHARS = 100_000
#: Deepest AST analysed. No program written to be read nests this deep (a 200-branch ``elif`` chain
#: would); 200 levels keep ``ast.unparse`` (~3 frames a level) far below Python's recursion limit.
MAX_DEPTH = 200


@dataclass(frozen=True)
class Program:
    """A parsed program plus the lookups every detector needs."""

    source: str
    tree: ast.Module | None
    error: str | None = None
    #: Not analysed because of a limit (size, depth), not a syntax error: it may still run, unaudited.
    beyond_limits: bool = False
    _parents: dict[ast.AST, ast.AST] = field(default_factory=dict, repr=False, compare=False)
    _nodes: list[ast.AST] = field(default_factory=list, repr=False, compare=False)  # ast.walk order
    #: node -> (the parent's field it is in, its index there; 0 for a single node)
    _slots: dict[ast.AST, tuple[str, int]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def parse(cls, source: str) -> Program:
        """Parse ``source``; whatever ``ast`` cannot handle gives a Program without a tree and the reason,
        never an exception."""
        if len(source) > MAX_SOURCE_CHARS:
            return cls(source, None, f"too large to analyse: {len(source):,} characters (the limit is "
                       f"{MAX_SOURCE_CHARS:,})", beyond_limits=True)
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError) as exc:  # ValueError: null bytes (3.11), surrogates (UnicodeEncodeError)
            line = getattr(exc, "lineno", None)
            return cls(source, None, f"{type(exc).__name__}: {getattr(exc, 'msg', exc)}"
                       + (f" (line {line})" if line else ""))
        except (RecursionError, MemoryError) as exc:  # the parser's own stack or the C stack overflowed
            return cls(source, None, f"too deeply nested to parse ({type(exc).__name__})", beyond_limits=True)
        index = _index(tree)
        if index is None:
            return cls(source, None, f"too deeply nested to analyse: more than {MAX_DEPTH} levels",
                       beyond_limits=True)
        return cls(source, tree, None, False, *index)

    @property
    def ok(self) -> bool:
        return self.tree is not None

    @cached_property
    def lines(self) -> list[str]:
        return self.source.splitlines()

    def nodes(self) -> list[ast.AST]:
        """Every node, in ``ast.walk`` order (walked once, at parse time: the detectors ask often)."""
        return list(self._nodes)

    def snippet(self, node: ast.AST, width: int = 160) -> str:
        """The node's first source line, stripped: the evidence a reader checks against the program."""
        line = getattr(node, "lineno", 0)
        text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        return text if len(text) <= width else text[: width - 1] + "…"

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self._parents.get(node)

    def ancestors(self, node: ast.AST) -> list[ast.AST]:
        out = []
        cur = self._parents.get(node)
        while cur is not None:
            out.append(cur)
            cur = self._parents.get(cur)
        return out

    def enclosing_loops(self, node: ast.AST) -> list[ast.AST]:
        """Loops (``for``, ``while``, comprehension generators) that run ``node`` once per pass, innermost
        first. A ``for`` loop's iterable and ``else`` run once, and so does a comprehension's first
        iterable: a model call there is outside the loop, however it is nested in the text."""
        loops: list[ast.AST] = []
        child = node
        for anc in self.ancestors(node):
            where, i = self._slots.get(child, ("", 0))  # where the child sits: no list searched per call
            if isinstance(anc, (ast.For, ast.AsyncFor)):
                if where == "body":
                    loops.append(anc)
            elif isinstance(anc, ast.While):
                if where in ("test", "body"):
                    loops.append(anc)
            elif isinstance(anc, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                gens = anc.generators
                if where == "generators":  # in a generator: its own target/ifs run per item, its iter per outer item
                    loops.extend(reversed(gens[: i + 1] if self._in_ifs(node, gens[i]) else gens[:i]))
                else:  # the element (or key/value): runs once per item of every generator
                    loops.extend(reversed(gens))
            child = anc
        return loops

    def _in_ifs(self, node: ast.AST, gen: ast.comprehension) -> bool:
        """Is ``node`` in the filters (or target) of ``gen``, rather than in its iterable?"""
        cur: ast.AST | None = node
        while cur is not None and cur is not gen:
            if cur is gen.iter:
                return False
            cur = self._parents.get(cur)
        return True

    def calls(self) -> list[ast.Call]:
        return [n for n in self.nodes() if isinstance(n, ast.Call)]

    def model_calls(self) -> list[ast.Call]:
        """Call sites of ``<anything>.batch_prompt(...)`` / ``<anything>.prompt(...)``."""
        return [c for c in self.calls() if isinstance(c.func, ast.Attribute) and c.func.attr in MODEL_METHODS]

    @cached_property
    def aliases(self) -> dict[str, str]:
        """Local name -> what it was imported as: ``np`` -> ``numpy``, ``perf_counter`` -> ``time.perf_counter``."""
        out: dict[str, str] = {}
        for node in self.nodes():
            if isinstance(node, ast.Import):
                for a in node.names:
                    out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    out[a.asname or a.name] = f"{node.module}.{a.name}"
        return out

    def qualified(self, call: ast.Call) -> str:
        """``call_name`` with its first part resolved through the imports (``np.random.seed`` ->
        ``numpy.random.seed``; ``from time import time`` makes ``time()`` ``time.time``)."""
        name = call_name(call)
        head, dot, rest = name.partition(".")
        return self.aliases.get(head, head) + dot + rest

    def function(self, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        for node in self.nodes():
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                return node
        return None

    def identifiers(self) -> set[str]:
        """Every name the program binds or reads: variables, attributes, functions, classes, arguments."""
        out: set[str] = set()
        for node in self.nodes():
            if isinstance(node, ast.Name):
                out.add(node.id)
            elif isinstance(node, ast.Attribute):
                out.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.add(node.name)
            elif isinstance(node, ast.arg):
                out.add(node.arg)
            elif isinstance(node, ast.keyword) and node.arg:
                out.add(node.arg)
        return out

    def identifier_words(self) -> set[str]:
        """Identifiers split at underscores and lower-cased: ``best_ucb_arm`` gives best, ucb, arm."""
        return {part for ident in self.identifiers() for part in ident.lower().split("_") if part}

    def strings(self) -> list[str]:
        """String literals, f-string text included (prompts say a lot about an improver's intent)."""
        return [n.value for n in self.nodes() if isinstance(n, ast.Constant) and isinstance(n.value, str)]

    def comments(self) -> list[tuple[int, str]]:
        """(line, text) of every ``#`` comment, read with the tokenizer (comments are not in the AST)."""
        out: list[tuple[int, str]] = []
        if not self.ok:
            return out  # the pure-Python tokenizer on what ast refused: slow at best
        try:
            for tok in tokenize.generate_tokens(io.StringIO(self.source).readline):
                if tok.type == tokenize.COMMENT:
                    out.append((tok.start[0], tok.string.lstrip("#").strip()))
        except (tokenize.TokenError, SyntaxError, ValueError, RecursionError, MemoryError):
            pass  # the tokenizer and the parser disagree on odd input: what was read so far is kept
        return out


def reply_code(reply: str) -> str | None:
    """``extract_code`` for the host's analyses: the largest fenced block of a model reply. A reply beyond
    ``MAX_SOURCE_CHARS`` is returned whole (``Program.parse`` then reports it as too large): finding its
    fences parses every candidate block, seconds and gigabytes for a reply of megabytes."""
    return reply if len(reply) > MAX_SOURCE_CHARS else extract_code(reply)


def _index(tree: ast.AST) -> tuple[dict[ast.AST, ast.AST], list[ast.AST], dict[ast.AST, tuple[str, int]]] | None:
    """({child: parent}, every node in ``ast.walk`` order, {child: (field, index)}), walked level by level
    without recursion; None past ``MAX_DEPTH``."""
    parents: dict[ast.AST, ast.AST] = {}
    nodes: list[ast.AST] = []
    slots: dict[ast.AST, tuple[str, int]] = {}
    level = [tree]
    for _ in range(MAX_DEPTH):
        nodes += level
        below = []
        for node in level:
            for name, value in ast.iter_fields(node):
                for i, child in enumerate(value if isinstance(value, list) else [value]):
                    if isinstance(child, ast.AST):
                        parents[child] = node
                        slots[child] = (name, i)
                        below.append(child)
        if not below:
            return parents, nodes, slots
        level = below
    return None


def containing(prog: Program, found: Iterable[ast.AST]) -> set[ast.AST]:
    """Every node whose subtree holds one of ``found`` (those included), in time linear in the program:
    each chain of ancestors stops at the first node already marked. Asking "does this subtree hold X?"
    once per loop or call site instead walked the subtree each time (quadratic, cubic when nested)."""
    marked: set[ast.AST] = set()
    for node in found:
        cur: ast.AST | None = node
        while cur is not None and cur not in marked:
            marked.add(cur)
            cur = prog.parent(cur)
    return marked


def dotted_name(node: ast.AST | None) -> str | None:
    """``np.random.seed`` for a Name/Attribute chain; None for anything else (calls, subscripts)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def call_name(call: ast.Call) -> str:
    """Dotted name of what is called, or its last attribute (``x().y()`` -> ``y``), or ''."""
    name = dotted_name(call.func)
    if name is not None:
        return name
    return call.func.attr if isinstance(call.func, ast.Attribute) else ""


def names_in(node: ast.AST) -> set[str]:
    """Names and attribute names mentioned anywhere under ``node``."""
    out: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            out.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            out.add(sub.attr)
    return out


def loop_header(loop: ast.AST) -> list[ast.AST]:
    """The parts of a loop that decide how often it runs (``iter``/``test``, comprehension filters)."""
    if isinstance(loop, (ast.For, ast.AsyncFor)):
        return [loop.iter]
    if isinstance(loop, ast.While):
        return [loop.test]
    if isinstance(loop, ast.comprehension):
        return [loop.iter, *loop.ifs]
    return []


def literal_trip_count(loop: ast.AST) -> int | None:
    """Iterations of ``for _ in range(<int literals>)`` (or over a literal list/tuple); None if unknown."""
    if not isinstance(loop, (ast.For, ast.AsyncFor, ast.comprehension)):
        return None
    it = loop.iter
    if isinstance(it, (ast.List, ast.Tuple)):
        return len(it.elts)
    if isinstance(it, ast.Call) and dotted_name(it.func) == "range" and not it.keywords:
        args = [a.value for a in it.args if isinstance(a, ast.Constant) and isinstance(a.value, int)]
        if len(args) != len(it.args) or not 1 <= len(args) <= 3:
            return None
        return len(range(*args))
    return None


def is_falsy_constant(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value in (False, 0, None) and not isinstance(node.value, str)


def stored_names(node: ast.AST) -> set[str]:
    """Names (re)bound anywhere under ``node``: assignment targets, loop targets, augmented assignments."""
    out: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            out.add(sub.id)
    return out
