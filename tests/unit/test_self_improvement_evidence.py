"""The evidence a self-improvement claim rests on (issue 21): independent run seeds, known-answer paired
statistics, the matched-cost comparison, the feedback call (its budget, validation data only), the
provenance of candidates and their place in the lineage. Model replies are scripted (named as such):
these test control flow and arithmetic, not the model."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest

from selftaught.analysis.paired import best_of, matched_cost, paired_difference
from selftaught.engine.adoption import paired_p
from selftaught.engine.provenance import author_of
from selftaught.engine.utility import UtilityService, feedback_text
from selftaught.models.base import ChatRequest
from selftaught.models.scripted import ScriptedModel
from selftaught.stats import sign_flip_test
from selftaught.store import ImproverRunResult, MetaEvaluationRecord, RunStore
from selftaught.tasks.max_or_none import MaxOrNone
from selftaught.values import cut_at_stop

GOOD = "```python\ndef algorithm(xs):\n    return max(xs) if xs else None\n```\n"
HALF = "```python\ndef algorithm(xs):\n    return max(xs)\n```\n"


def _seeded(request: ChatRequest) -> str:
    """A scripted model whose reply depends on the sampling seed, as a real one's does."""
    return GOOD if (request.seed or 0) % 4 == 0 else HALF if (request.seed or 0) % 4 == 1 else "no code"


def _replies(run_dir) -> list[tuple[str, str]]:
    store = RunStore(run_dir)
    try:
        return sorted((c.key, c.text) for c in store.completions())
    finally:
        store.close()


# ---- independent replicates ---------------------------------------------------------------------------

def test_two_run_seeds_share_no_model_draw_and_one_seed_replays_byte_identically(run_scripted):
    sets = {"task": "max_or_none", "improver": "small", "iterations": 1, "budget.final_tests": 3}
    a, _ = run_scripted(_seeded, name="a", seed=0, **sets)
    again, _ = run_scripted(_seeded, name="again", seed=0, **sets)
    other, _ = run_scripted(_seeded, name="other", seed=1, **sets)
    first, second, third = _replies(a.run_dir), _replies(again.run_dir), _replies(other.run_dir)
    assert first and first == second  # same seed: the same keys, the same replies, byte for byte
    assert not {k for k, _ in first} & {k for k, _ in third}  # another seed: not one replay key in common
    # ... and the sampling seeds differ too, so a real model draws anew
    store = RunStore(a.run_dir), RunStore(other.run_dir)
    try:
        seeds = [{c.request["seed"] for c in s.completions()} for s in store]
    finally:
        for s in store:
            s.close()
    assert not seeds[0] & seeds[1]


def test_a_run_recorded_before_salts_keeps_its_keys(tmp_path):
    from selftaught.engine.held_out import model_draws_salt
    from selftaught.store import CompletionRecord

    store = RunStore(tmp_path / "old", create=True)
    store.put_completion(CompletionRecord(key="k", scope="s", occurrence=0, model="m", request={}, text="t",
                                          prompt_tokens=1, completion_tokens=1, latency=0.0, role="improver"))
    assert model_draws_salt(store, 0) == ""  # its replies stay reachable on resume
    fresh = RunStore(tmp_path / "new", create=True)
    salt = model_draws_salt(fresh, 0, "seeded")
    assert salt and model_draws_salt(fresh, 0, "seeded") == salt != model_draws_salt(
        RunStore(tmp_path / "new1", create=True), 1, "seeded")


# ---- statistics with known answers ----------------------------------------------------------------------

def _brute_force_flip_p(diffs: list[float]) -> float:
    d = [x for x in diffs if x != 0]
    observed = abs(sum(d))
    hits = sum(abs(sum(s * x for s, x in zip(signs, d))) >= observed - 1e-12
               for signs in itertools.product((1, -1), repeat=len(d)))
    return hits / 2 ** len(d)


@pytest.mark.parametrize("diffs", [[1.0] * 6, [0.5, 0.2, -0.1, 0.3], [0.35, 0.05, 0.05, -0.4, 0.2, 0.0, 0.15],
                                   [0.2, -0.2], [0.0, 0.0]])
def test_the_paired_permutation_test_matches_enumeration(diffs):
    assert sign_flip_test(diffs) == pytest.approx(_brute_force_flip_p(diffs) if any(diffs) else 1.0)


def test_the_permutation_test_weighs_magnitudes_where_the_sign_test_cannot():
    # 6 wins, 0 losses: both tests give 2/64; one big loss among small wins: the sign test would see 6 to 1,
    # the permutation test sees that the mean is about zero.
    assert sign_flip_test([0.1] * 6) == pytest.approx(2 / 64)
    assert sign_flip_test([0.1] * 6 + [-0.6]) == pytest.approx(1.0)
    diff = paired_difference([0.0] * 12, [0.3] * 8 + [0.0] * 4)
    assert (diff.wins, diff.losses, diff.ties) == (8, 0, 4) and diff.p == pytest.approx(2 / 256)


def test_sampled_flips_agree_with_the_binomial_answer_beyond_twenty_pairs():
    # 24 pairs of equal size, 17 up and 7 down: the sum's null distribution is 0.1 * (2B - 24), B ~ Bin(24, 1/2)
    diffs = [0.1] * 17 + [-0.1] * 7
    exact = 2 * sum(math.comb(24, k) for k in range(17, 25)) / 2 ** 24
    p = sign_flip_test(diffs)
    assert p == pytest.approx(exact, abs=0.005) and sign_flip_test(diffs) == p  # seeded: same data, same p
    assert sign_flip_test([0.1] * 12 + [-0.1] * 12) == pytest.approx(1.0)
    assert sign_flip_test([0.1] * 24) < 1e-4


def test_best_of_k_is_the_expected_best_by_validation_over_all_subsets():
    runs = [(0.1, 0.2), (0.5, 0.4), (0.5, 0.6), (0.9, 0.8), (0.3, 0.1), (0.0, 0.0)]
    for k in (1, 2, 3, 6):
        picks = []
        for subset in itertools.combinations(runs, k):
            top = max(v for v, _ in subset)
            picks.append(statistics.mean(t for v, t in subset if v == top))
        assert best_of(runs, k) == pytest.approx(statistics.mean(picks))
    assert best_of(runs, 2.5) == pytest.approx((best_of(runs, 2) + best_of(runs, 3)) / 2)


def test_matched_cost_says_when_an_improver_only_spends_more():
    i0 = [ImproverRunResult(task="t", run=j, verdict="ok", lm_responses=1, val=v, test=v)
          for j, v in enumerate([0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])]
    # I_T: 4 replies per run, as good as the best of 4 of I_0's runs and no better
    it = [ImproverRunResult(task="t", run=j, verdict="ok", lm_responses=4, val=v, test=v)
          for j, v in enumerate([1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0])]
    m = matched_cost(i0, it)
    assert m is not None and m.k == 4.0
    expected = 1 - math.comb(6, 4) / math.comb(8, 4)  # P(a 4-subset holds one of the two 1.0 runs)
    assert m.baseline == pytest.approx(expected) and m.gain == pytest.approx(0.625 - expected)
    assert m.low <= m.gain <= m.high


# ---- adoption states its evidence ----------------------------------------------------------------------

def test_an_adoption_reports_its_paired_p_value():
    def runs(vals: list[float]) -> tuple[ImproverRunResult, ...]:
        return tuple(ImproverRunResult(task="t", run=j, verdict="ok", val=v) for j, v in enumerate(vals))

    parent = MetaEvaluationRecord("p", "s", 0.1, 0.1, runs([0.0, 0.2, 0.0, 0.2]))
    child = MetaEvaluationRecord("c", "s", 0.6, 0.6, runs([0.8, 0.6, 0.4, 0.6]))
    assert paired_p(parent, child) == (4, pytest.approx(2 / 16))


# ---- the feedback call ---------------------------------------------------------------------------------

class _Scorer:
    """A scorer in the host's terms over real task instances; scores with the task's checker."""

    def __init__(self, task):
        self.task, self.splits_read = task, []
        self._instances = {s: task.instances(s, 0) for s in ("val", "test")}

    def instances(self, task, split):
        self.splits_read.append(split)
        return self._instances[split]

    def evaluate(self, task, source, split):
        from selftaught.engine.utility import SolutionScorer
        from selftaught.store import EvaluationRecord

        self.splits_read.append(split)
        ns: dict = {}
        exec(source, ns)  # our own fixed solutions, not model code
        results = []
        for inst in self._instances[split]:
            try:
                answer = ns["algorithm"](*task.arguments(inst))
                res = type("R", (), {"verdict": __import__("selftaught.sandbox", fromlist=["Verdict"]).Verdict.OK,
                                     "cpu_seconds": 0.0, "value": answer, "clock_disagrees": False,
                                     "guest_cpu_seconds": None, "error": None})()
            except Exception as exc:  # noqa: BLE001
                res = type("R", (), {"verdict": "error", "cpu_seconds": 0.0, "value": None,
                                     "clock_disagrees": False, "guest_cpu_seconds": None, "error": repr(exc)})()
            results.append(SolutionScorer._judge(task, inst, res))
        score = sum(r.score for r in results) / len(results)
        return EvaluationRecord(task.name, split, "h", score, 0.0, 0.0, "ok", None, "test", tuple(results))


def test_feedback_shows_validation_cases_only_and_costs_one_utility_call():
    task = MaxOrNone()
    scorer = _Scorer(task)
    utility = UtilityService(scorer, task, budget=2)  # type: ignore[arg-type]
    text = utility.feedback("def algorithm(xs):\n    return max(xs)\n")
    assert utility.uses == 1 and "test" not in scorer.splits_read
    assert text.startswith("score 0.") and "algorithm([])" in text and "expected None" in text
    test_args = {repr(task.arguments(i)[0]) for i in scorer._instances["test"] if i["xs"]}
    shown = [line for line in text.splitlines() if line.startswith("- ")]
    assert 1 <= len(shown) <= 3 and not any(args in line for line in shown for args in test_args)
    utility.feedback("def algorithm(xs):\n    return None\n")
    assert utility.feedback("def algorithm(xs):\n    return 1\n") == "score 0.000: the utility budget is used up"
    assert utility.uses == 3


def test_feedback_text_puts_the_shortest_case_of_each_kind_first():
    task = MaxOrNone()
    scorer = _Scorer(task)
    rec = scorer.evaluate(task, "def algorithm(xs):\n    return xs[0]\n", "val")
    text = feedback_text(task, scorer._instances["val"], rec)
    first = text.splitlines()[1]
    assert "algorithm([])" in first and "IndexError" in first  # the crash on [] before any wrong answer


# ---- stop sequences ---------------------------------------------------------------------------------------

def test_a_reply_ends_before_its_first_stop_sequence_and_the_stop_keys_the_request():
    assert cut_at_stop("```python\nx = 1\n```\nTalk.", ("\n```\n",)) == ("```python\nx = 1", True)
    assert cut_at_stop("no fence", ("\n```\n",)) == ("no fence", False)
    model = ScriptedModel(replies=["```python\nx = 1\n```\nand more talk"])
    req = ChatRequest(model="m", system="", user="u", temperature=0.2, max_tokens=9, stop=("\n```\n",))
    assert model.complete(req).text == "```python\nx = 1"
    plain = ChatRequest(model="m", system="", user="u", temperature=0.2, max_tokens=9)
    assert req.digest() != plain.digest() and '"stop"' not in plain.canonical()  # old keys unchanged


# ---- provenance and lineage ---------------------------------------------------------------------------

def test_the_author_of_a_candidate_is_read_from_the_steps_replies():
    improver = "def improve_algorithm(s, utility, language_model):\n    x = utility(s)\n    return s\n"
    reply = f"Here it is:\n```python\n{improver}```\n"
    assert author_of(improver, improver, [reply]) == "model"
    assert author_of(improver, improver + "\n# closed\n", [reply]) == "repaired"
    assert author_of(improver.replace("x =", "y ="), improver, []) == "improver"


def test_rejected_and_smoke_failed_candidates_are_versions_of_the_lineage(run_scripted):
    from selftaught.report.html import write_report

    result, _ = run_scripted(_seeded, task="max_or_none", improver="small", iterations=1,
                             **{"budget.meta_utility_tests": 2, "budget.final_tests": 2})
    store = RunStore(result.run_dir)
    try:
        candidates = [imp for imp in store.improvers() if imp.origin == "candidate"]
        its = store.iterations()
    finally:
        store.close()
    assert candidates and all(c.iteration == 1 and c.parent == its[0].improver_hash for c in candidates)
    assert all(c.author == "improver" for c in candidates)
    html = write_report(result.run_dir).read_text()
    for c in candidates:
        assert f"v-{c.hash[:12]}" in html
    assert "written by the improver&#x27;s own code" in html or "written by the improver's own code" in html
    assert "did not return" in html
