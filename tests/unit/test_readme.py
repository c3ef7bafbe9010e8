"""The README documents every configuration key (so a new key cannot ship undocumented)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from selftaught.config import RunConfig

README = Path(__file__).resolve().parents[2] / "README.md"


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out: list[str] = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += _keys(ann, f"{prefix}{name}.")
        else:
            out.append(prefix + name)
    return out


def test_every_config_key_is_in_the_readme_table():
    text = README.read_text()
    missing = [k for k in _keys(RunConfig) if f"| `{k}` |" not in text]
    assert not missing, f"undocumented config keys: {missing}"


def test_readme_test_command_is_what_ci_runs():
    ci = (README.parent / ".ci" / "run").read_text()
    assert "./scripts/install.sh --dev && .venv/bin/python -m pytest -q" in README.read_text()
    assert "./scripts/install.sh --dev && .venv/bin/python -m pytest -q" in ci
