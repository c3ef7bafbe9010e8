"""The improver lineage as HTML: a tree of links, then one section per version with its labels, flags,
the diff against its parent and its full source, syntax-highlighted by pygments.

Every version has the id ``v-<hash12>`` (``data.anchor``); parents, children and the iteration table link
to those ids, so the lineage can be walked in both directions without scripts.
"""

from __future__ import annotations

import difflib
from html import escape
from typing import Any

from selftaught.errors import MissingExtra
from selftaught.report.data import IterationRow, Version, anchor

#: Longest source shown whole, highlighted and diffed. Improvers are a few thousand characters; a
#: model-written one can be megabytes, and highlighting costs about a second per 50,000 characters.
SHOWN_CHARS = 50_000


#: Who wrote a version, as the lineage says it (``ImproverRecord.author``).
WRITERS = {"people": "written by people", "model": "written by the model",
           "repaired": "a model reply repaired in the host", "improver": "written by the improver's own code"}


def _pygments() -> tuple[Any, Any, Any, Any]:
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import DiffLexer, PythonLexer
    except ImportError as exc:
        raise MissingExtra("selftaught report", "report") from exc
    return highlight, HtmlFormatter, DiffLexer, PythonLexer


def highlight_css() -> str:
    """The stylesheet of the highlighted blocks (class ``hl``)."""
    _, formatter, _, _ = _pygments()
    return formatter(style="default").get_style_defs(".hl")


def highlighted(source: str, lexer: str = "python") -> str:
    highlight, formatter, diff_lexer, python_lexer = _pygments()
    lex = diff_lexer() if lexer == "diff" else python_lexer()
    return highlight(source, lex, formatter(cssclass="hl", style="default"))


def source_block(source: str) -> str:
    """A version's source, highlighted; past ``SHOWN_CHARS`` only its beginning, as plain text."""
    if len(source) <= SHOWN_CHARS:
        return highlighted(source)
    return (f"<p>{len(source):,} characters: the first {SHOWN_CHARS:,} shown, not highlighted</p>"
            f"<pre>{escape(source[:SHOWN_CHARS])}</pre>")


def unified_diff(parent: str, child: str, parent_name: str, child_name: str) -> str:
    lines = difflib.unified_diff(parent.splitlines(keepends=True), child.splitlines(keepends=True),
                                 fromfile=parent_name, tofile=child_name, n=3)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _link(target: str, text: str | None = None) -> str:
    return f'<a href="#{target}">{escape(text or target)}</a>'


def _tree(versions: list[Version]) -> str:
    """Nested list of every version from its root(s): the lineage at a glance."""
    by_anchor = {v.anchor: v for v in versions}
    known = {v.record.hash for v in versions}

    def item(v: Version, seen: set[str]) -> str:
        seen.add(v.anchor)
        labels = ", ".join(v.labels) or "unlabelled"
        flags = f' <span class="flag">{len(v.findings)} flag(s)</span>' if v.findings else ""
        kids = [by_anchor[a] for a in v.children if a in by_anchor and a not in seen]
        inner = "<ul>" + "".join(item(k, seen) for k in kids) + "</ul>" if kids else ""
        return (f"<li>{_link(v.anchor)} <span class=\"muted\">{escape(v.record.origin)} t={v.record.iteration}"
                f" · {escape(labels)}</span>{flags}{inner}</li>")

    seen: set[str] = set()
    roots = [v for v in versions if not v.record.parent or v.record.parent not in known]
    return '<ul class="tree">' + "".join(item(r, seen) for r in roots) + "</ul>"


def _scores(v: Version, rows: list[IterationRow]) -> str:
    for r in rows:
        if v.record.hash in (r.record.improver_hash, r.record.candidate_hash):
            rec = r.record
            if rec.candidate_hash == v.record.hash and rec.candidate_val is not None:
                state = "adopted" if rec.adopted else rec.verdict
                return (f"iteration {rec.iteration} candidate ({escape(state)}): val {rec.candidate_val:.3f}, "
                        f"test {rec.candidate_test:.3f}")
            return f"iteration {rec.iteration}: val {rec.val:.3f}, test {rec.test:.3f}"
    if v.record.origin == "candidate":
        return f"a candidate scored at t={v.record.iteration} that the step did not return (meta-utility table)"
    return "not scored as an iteration"


def _repair(v: Version, repairs: dict[str, tuple[str, list[str]]]) -> str:
    """How the host repaired the model's candidate into this version (engine/repair.py)."""
    if v.record.hash not in repairs:
        return ""
    raw, steps = repairs[v.record.hash]
    text = unified_diff(raw, v.record.source, "model's reply", v.anchor)
    return (f"<details><summary>repaired in the host: {escape('; '.join(steps))}</summary>"
            + (highlighted(text, "diff") if text else "") + "</details>")


def render(versions: list[Version], rows: list[IterationRow],
           repairs: dict[str, tuple[str, list[str]]] | None = None) -> str:
    """The lineage section's body."""
    sources = {v.record.hash: v.record.source for v in versions}
    parts = [_tree(versions)]
    for v in versions:
        rec = v.record
        parent = rec.parent
        nav = [f"parent {_link(anchor(parent))}" if parent and parent in sources else "root"]
        if v.children:
            nav.append("children " + ", ".join(_link(c) for c in v.children))
        chips = "".join(f'<span class="chip" title="{escape(why)}">{escape(label)}</span>'
                        for label, why in v.labels.items())
        flags = "".join(f'<li class="sev-{escape(f.severity)}"><b>{escape(f.rule)}</b> ({escape(f.severity)}): '
                        f'{escape(f.message)}' + (f' — line {f.line}: <code>{escape(f.snippet)}</code>'
                                                  if f.line else "") + "</li>" for f in v.findings)
        diff = ""
        if parent and parent in sources and max(len(sources[parent]), len(rec.source)) > SHOWN_CHARS:
            diff = "<p>not diffed against its parent: too large</p>"
        elif parent and parent in sources:
            text = unified_diff(sources[parent], rec.source, anchor(parent), v.anchor)
            diff = (f"<details open><summary>diff against parent {_link(anchor(parent))}</summary>"
                    + (highlighted(text, "diff") if text else "<p>identical to its parent</p>") + "</details>")
        who = WRITERS.get(rec.author) or ("model-written" if v.model_written else "written by people")
        parts.append(
            f'<section class="version" id="{v.anchor}"><h3>{escape(v.anchor)} '
            f'<span class="muted">{escape(rec.origin)}, t={rec.iteration}, {who}</span></h3>'
            f'<p class="nav">{" · ".join(nav)} · {escape(_scores(v, rows))}</p>'
            f'<p>{chips or "<span class=muted>no strategy label</span>"}</p>'
            + (f'<ul class="flags">{flags}</ul>' if flags else "")
            + diff + _repair(v, repairs or {}) + f"<details><summary>full source ({len(rec.source.splitlines())} lines)</summary>"
            + source_block(rec.source) + "</details></section>")
    return "\n".join(parts)
