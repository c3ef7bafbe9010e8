"""What happens to a candidate improver before it may spend model calls: repair, the smoke gate, and
de-duplication by AST. One object per run (everything memoised; repairs are also stored, so a resumed
run repeats none of them)."""

from __future__ import annotations

from selftaught.engine.context import EngineContext
from selftaught.engine.programs import Unparsed, parse, program_hash
from selftaught.engine.repair import Check, canonical_hash, repair
from selftaught.engine.smoke import smoke_test
from selftaught.store import RepairRecord


class CandidateGate:
    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self._smoke: dict[str, tuple[Check, str | None]] = {}
        self._first_of_ast: dict[str, str] = {}

    @property
    def active(self) -> bool:
        """Gate and repair guard ``improves`` adoption; ``nonzero`` reproduces the reference, which had
        neither."""
        return self.ctx.config.adoption == "improves"

    def smoke(self, source: str) -> tuple[Check, str | None]:
        """The smoke gate's verdict. A candidate the host cannot even parse within its limits (over the
        size cap, nested past the parser's recursion) is refused here with the reason, without a sandbox:
        it could not load there either."""
        h = program_hash(source)
        if h not in self._smoke:
            tree = parse(source)
            if isinstance(tree, Unparsed) and tree.beyond_limits:
                self._smoke[h] = ("broken", f"refused unrun: {tree.reason}")
            else:
                self._smoke[h] = smoke_test(self.ctx, source)
        return self._smoke[h]

    def repaired(self, raw: str, parent: str) -> str:
        """The candidate ``raw`` becomes (itself when repair is off or not needed); raw reply and result
        are both stored, with the steps taken."""
        if not (self.active and self.ctx.config.repair):
            return raw
        store = self.ctx.store
        raw_hash, parent_hash = program_hash(raw), program_hash(parent)
        known = store.get_repair(raw_hash, parent_hash)
        if known is not None:
            source = store.get_program(known.source_hash)
            if source is not None:
                return source
        rep = repair(raw, parent, lambda s: self.smoke(s)[0])
        source_hash = program_hash(rep.source)
        store.put_program(raw_hash, raw)
        store.put_program(source_hash, rep.source)
        store.put_repair(RepairRecord(raw_hash, parent_hash, source_hash, rep.steps))
        if rep.changed:
            self.ctx.reporter.event("repair", raw=raw_hash, source=source_hash, steps=rep.steps,
                                    to_parent=source_hash == parent_hash)
        return rep.source

    def twin(self, source: str) -> str | None:
        """The hash of an earlier candidate with the same AST without docstrings (scored once), else
        None (and ``source`` becomes the one its twins map to)."""
        canon = canonical_hash(source)
        if canon is None:
            return None
        h = program_hash(source)
        first = self._first_of_ast.setdefault(canon, h)
        return None if first == h else first
