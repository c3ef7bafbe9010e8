"""User errors reach the terminal as one line naming the problem and the fix; no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest


def selftaught(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "selftaught.cli.main", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, check=False)


@pytest.mark.parametrize(("args", "needle"), [
    (["run", "--task", "nope"], "unknown task 'nope'"),
    (["run", "--model", "opnai"], "did you mean 'openai'"),
    (["run", "--set", "budget.utlity_calls=3"], "did you mean 'utility_calls'"),
    (["run", "--set", "iterations=x"], "iterations"),
    (["run", "--improver", "/nonexistent/improver.py"], "neither a built-in"),
    (["run", "--resume", "/nonexistent/run"], "not a selftaught run"),
    (["run", "--model", "openai", "--base-url", "http://127.0.0.1:9/v1", "--set", "model.max_retries=0"],
     "cannot reach the model server"),
    (["show", "/nonexistent/run"], "not a selftaught run"),
    (["run", "--bogus"], "No such option: --bogus"),
    (["tasks", "shw"], "No such command 'shw'"),
    (["run", "--seed", "-5"], "seed: Input should be greater than or equal to 0"),
    (["run", "--set", "runs_dir='/proc/version'"], "is a file, not a directory"),
    (["run", "--base-url", "127.0.0.1:8000/v1"], "must be an http:// or https:// URL"),
])
def test_user_errors_are_one_line_with_exit_code_2(args, needle, tmp_path):
    proc = selftaught(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert needle in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()  # nothing was created for a run that could not start


def test_malformed_toml_names_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("task = \n")
    proc = selftaught("run", "-c", str(bad))
    assert proc.returncode == 2 and f"{bad} is not valid TOML" in proc.stderr


def test_an_improver_file_too_deep_to_compile_is_one_line(tmp_path):
    deep = tmp_path / "deep.py"
    deep.write_text("def improve_algorithm(initial_solution, utility, language_model):\n"
                    "    return initial_solution\n\nX = " + "+".join(["1"] * 50_000) + "\n")
    proc = selftaught("run", "--improver", str(deep), "--model", "scripted", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "nested too deeply for Python to compile" in lines[0], proc.stderr
    assert not (tmp_path / "runs").exists()


def test_doctor_on_a_core_install_passes_unless_the_embedded_model_is_the_configured_one(monkeypatch, capsys):
    """A core install against an endpoint is supported: without the embedded extra, doctor says it is not
    installed (optional) and exits 0, unless the config asks for the embedded model (then it fails, with
    the pip hint whole: console markup must not eat '[embedded]')."""
    import selftaught.models.embedded as embedded
    from selftaught.cli.main import main
    from selftaught.errors import MissingExtra

    def missing() -> None:
        raise MissingExtra("the embedded model", "embedded")

    monkeypatch.setattr(embedded, "_require_llama_cpp", missing)  # as without llama-cpp-python
    assert main(["doctor", "--set", "model.provider='openai'"]) == 0
    out = capsys.readouterr().out
    assert "embedded model: not installed (optional" in out and "FAIL" not in out
    assert main(["doctor"]) == 1  # the default provider is the embedded model
    assert "pip install 'selftaught[embedded]'" in capsys.readouterr().out
