"""The recorder sends n replies to one prompt to a batching provider as one group (scripted model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from selftaught.config import CostConfig
from selftaught.errors import BudgetExhausted
from selftaught.models.base import ChatRequest
from selftaught.models.cost import CostMeter
from selftaught.models.recorder import Recorder
from selftaught.models.scripted import ScriptedModel
from selftaught.store import RunStore


def _req(user: str) -> ChatRequest:
    return ChatRequest(model="m", system="sys", user=user, temperature=0.7, max_tokens=10)


def _echo_seed(request: ChatRequest) -> str:
    return f"{request.user}/{request.seed}"


def _batch(recorder: Recorder, users: list[str]) -> list[str]:
    return [c.text for c in recorder.complete_batch("t0/run0", [_req(u) for u in users])]


@pytest.fixture
def store(tmp_path: Path):
    s = RunStore(tmp_path / "run", create=True)
    yield s
    s.close()


def test_identical_requests_go_as_one_group_each_with_its_own_seed(store: RunStore) -> None:
    model = ScriptedModel(responder=_echo_seed, batch_size=6)
    recorder = Recorder(model, store)
    try:
        texts = _batch(recorder, ["a", "b", "a", "a", "b", "c"])
    finally:
        recorder.close()
    assert sorted(model.shared_groups) == [2, 3]  # "a" x3 and "b" x2 together; "c" alone via complete
    assert [t.split("/")[0] for t in texts] == ["a", "b", "a", "a", "b", "c"]  # request order kept
    seeds = [t.split("/")[1] for t in texts]
    assert len(set(seeds)) == 6  # every occurrence has its own seed
    assert recorder.calls_sent == 6


def test_grouping_changes_no_reply_and_replay_sends_nothing(store: RunStore, tmp_path: Path) -> None:
    grouped = Recorder(ScriptedModel(responder=_echo_seed, batch_size=6), store)
    one_by_one_store = RunStore(tmp_path / "other", create=True)
    single = Recorder(ScriptedModel(responder=_echo_seed), one_by_one_store)
    try:
        users = ["a"] * 4 + ["b"] * 2
        first = _batch(grouped, users)
        assert first == _batch(single, users)  # same keys, same seeds: grouping is only transport
        again = Recorder(ScriptedModel(replies=["never sent"], batch_size=6), store, offline=True)
        assert _batch(again, users) == first  # a fresh recorder (a resumed run) replays the same replies
        assert again.calls_sent == 0 and again.cache_hits == 6
    finally:
        grouped.close()
        single.close()
        one_by_one_store.close()


def test_a_group_past_a_cap_is_refused_whole_and_books_nothing(store: RunStore) -> None:
    model = ScriptedModel(responder=_echo_seed, batch_size=6)
    meter = CostMeter.for_run(CostConfig(max_model_calls=4), "m", "run", [])
    recorder = Recorder(model, store, meter=meter)
    try:
        assert len(_batch(recorder, ["a"] * 3)) == 3
        with pytest.raises(BudgetExhausted):
            _batch(recorder, ["b"] * 3)  # the 4th call fits the cap, the 5th does not: none is sent
    finally:
        recorder.close()
    assert model.shared_groups == [3] and recorder.calls_sent == 3
    assert meter.total().calls == 3  # the 4th call's reservation was given back, not spent
