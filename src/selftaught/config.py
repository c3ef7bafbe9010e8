"""Validated configuration: one TOML file plus ``--set section.key=value`` overrides.

Validated once at the edge (pydantic, unknown keys rejected with a "did you mean"), then only frozen
typed objects move inward. Defaults are the paper's budgets (stop.md).
"""

from __future__ import annotations

import difflib
import tomllib
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from selftaught.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSettings(_Section):
    """Which model answers ``language_model`` calls."""

    provider: str = Field("embedded", description="model plug-in: embedded, openai, scripted, ...")
    name: str = Field("smollm2-135m", description="model name sent to the endpoint")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the API key")
    max_tokens: int = Field(1024, ge=1, description="max tokens per reply")
    stop: list[str] = Field(default_factory=list, max_length=4, description="stop sequences: a reply ends "
                            "before the first of them (e.g. \"\\n```\\n\", the end of the first code block: "
                            "a small model's talk after its code costs as much as the code)")
    concurrency: int = Field(6, ge=1, description="concurrent requests to the endpoint")
    timeout: float = Field(300.0, gt=0, description="seconds per request")
    max_retries: int = Field(4, ge=0, description="retries on 429/5xx/timeouts")
    n_threads: int | None = Field(None, ge=1, description="embedded model only: a fixed count of CPU threads "
                                  "of one llama.cpp context (unset: a context per core, threads chosen before "
                                  "every decode step from the cores other processes left free, so it never "
                                  "stalls beside sandboxed work)")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL, e.g. http://127.0.0.1:8000/v1")
        return v


#: Roles that may have their own model: the self-improvement step (it writes improvers) and the improver
#: runs of the meta-utility (their downstream calls). Anything else (the report's judge) uses [model].
MODEL_ROLES = ("meta", "improver")


class ModelConfig(ModelSettings):
    """``[model]``, optionally overridden per role by ``[model.meta]`` / ``[model.improver]``: STOP's natural
    split is a capable model for the meta step and a cheaper one for the calls improvers make. A role
    section takes every key it does not set from ``[model]`` (filled in at validation, so the stored
    config names each role's model in full)."""

    meta: ModelSettings | None = Field(None, description="model of the self-improvement step (writes improvers)")
    improver: ModelSettings | None = Field(None, description="model of the improver runs of the meta-utility")

    @model_validator(mode="before")
    @classmethod
    def _inherit(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        shared = {k: v for k, v in data.items() if k not in MODEL_ROLES}
        return {**data, **{role: {**shared, **data[role]} for role in MODEL_ROLES
                           if isinstance(data.get(role), dict)}}

    def for_role(self, role: str) -> ModelSettings:
        """The settings of ``role``'s model ([model] itself for a role without its own section)."""
        own = getattr(self, role) if role in MODEL_ROLES else None
        return own if own is not None else ModelSettings(**self.model_dump(exclude=set(MODEL_ROLES)))

    def names(self) -> list[str]:
        """Every model name the run may send requests to."""
        return list(dict.fromkeys([self.name, *(self.for_role(r).name for r in MODEL_ROLES)]))


class BudgetConfig(_Section):
    """Per-run budgets of the paper, enforced in the host."""

    language_model_calls: int = Field(4, ge=1, description="model calls per improver run")
    max_responses_per_call: int = Field(6, ge=1, description="responses per model call")
    utility_calls: int = Field(25, ge=1, description="downstream utility calls per improver run")
    meta_utility_calls: int = Field(25, ge=1, description="meta-utility calls per self-improvement step")
    meta_utility_tests: int = Field(5, ge=1, description="improver runs averaged by one meta-utility")
    final_tests: int = Field(0, ge=0, description="paired runs comparing I_T with I_0 on fresh model draws "
                             "after the last iteration (0: no final comparison)")
    improver_seconds: float = Field(900.0, gt=0, description="wall-clock limit of one improver run "
                                    "(excluding time the host spends serving its calls)")
    improver_host_seconds: float = Field(3600.0, gt=0, description="host seconds one improver run's calls may "
                                         "take in all (model replies, scoring its solutions); past it the run "
                                         "is stopped with verdict timeout")


class SandboxConfig(_Section):
    executor: str = Field("local", description="executor plug-in: local, ray")
    memory_mb: int = Field(4096, ge=64, description="address-space limit per sandboxed process")
    parallel: int | Literal["auto"] = Field(
        "auto", description="improver runs of one meta-utility in flight at once ('auto': all of them; "
        "CPU work is bounded by 'cpus' and model requests by model.concurrency, so results do not change)")
    cpus: int | Literal["auto"] = Field(
        "auto", description="sandboxed programs running at once ('auto': the executor's cores, for Ray "
        "the cluster's)")
    allow_unsandboxed: bool = Field(False, description="let improvers (self-modifying code) run when only "
                                    "tier C (no isolation) works on this machine")
    ray_address: str | None = Field(None, description="Ray cluster to join with executor 'ray' (e.g. "
                                    "'ray://head:10001' or 'auto'); unset: start a local Ray")

    @field_validator("parallel", "cpus")
    @classmethod
    def _positive(cls, v: int | str) -> int | str:
        if v != "auto" and int(v) < 1:
            raise ValueError("must be 'auto' or an integer >= 1")
        return v


class Price(_Section):
    """USD per million tokens."""

    input: float = Field(ge=0, description="USD per million prompt tokens")
    output: float = Field(ge=0, description="USD per million completion tokens")


class Caps(_Section):
    """Hard caps on model spend (unset: no cap)."""

    max_usd: float | None = Field(None, gt=0, description="hard cap on model spend in USD")
    max_tokens: int | None = Field(None, ge=1, description="hard cap on prompt + completion tokens")
    max_model_calls: int | None = Field(None, ge=1, description="hard cap on completions sent to the model")


class CostConfig(Caps):
    """What the run may spend on the model, counted over the whole run (resumes included). A request is
    sent only if its worst case still fits, so a cap is never exceeded; raise a cap and resume to go on.
    The caps here cover every model together; ``models`` adds caps for one model name (e.g. the costly
    model of ``[model.meta]``)."""

    prices: dict[str, Price] = Field(default_factory=dict, description="per model name, USD per million "
                                     "tokens, over the built-in table: {\"gpt-4o\" = {input = 2.5, output = 10}}")
    models: dict[str, Caps] = Field(default_factory=dict, description="caps per model name, beside the run's: "
                                    "{\"gpt-4o\" = {max_usd = 5}}")


class RunConfig(_Section):
    """Everything that defines a run. Stored in the run directory; ``--resume`` reads it back."""

    task: str = Field("max_list", description="built-in task name or path to a task file")
    improver: str = Field("seed", description="'seed' (the paper's), 'compact' (short prompt, keeps the "
                          "input when nothing beats it), 'small' (compact with its choices as constants it "
                          "can search over), or a path to an improver .py file")
    iterations: int = Field(2, ge=0, description="self-improvement iterations T")
    adoption: Literal["improves", "nonzero"] = Field(
        "improves", description="'improves': adopt only a real gain over the parent; 'nonzero': the reference")
    repair: bool = Field(True, description="repair candidate improvers in the host (close brackets, drop "
                         "repeats, merge into the parent hunk by hunk, each hunk smoke-tested)")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="run seed: validation instances, the "
                      "model's sampling seeds (with the held-out secret: two seeds are independent replicates, one "
                      "seed replays exactly) and, under held_out = 'seeded', the held-out instances")
    held_out: Literal["secret", "seeded"] = Field(
        "secret", description="'secret': held-out test instances and every program's random seeds derive from "
        "the run seed keyed by this machine's held-out key (~/.local/share/selftaught/held_out.key, or the "
        "environment variable SELFTAUGHT_HELD_OUT_KEY to share one across machines; no sandbox can read "
        "either): same seed, same machine, same run; a program that learns the seed still cannot "
        "compute the held-out set. 'seeded': from the run seed alone (same on every machine)")
    runs_dir: str = Field("runs", description="where run directories are created")
    model: ModelConfig = ModelConfig()
    budget: BudgetConfig = BudgetConfig()
    sandbox: SandboxConfig = SandboxConfig()
    cost: CostConfig = CostConfig()


def _did_you_mean(loc: tuple, model: type[BaseModel]) -> str:
    target: Any = model
    for part in loc[:-1]:
        field = target.model_fields.get(part) if isinstance(target, type) and issubclass(target, BaseModel) else None
        target = field.annotation if field else None
        target = next((a for a in typing.get_args(target) if isinstance(a, type)), target)  # X | None -> X
    known = list(target.model_fields) if isinstance(target, type) and issubclass(target, BaseModel) else []
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(known)})" if known else ""


def _translate(exc: ValidationError, origin: str) -> ConfigError:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return ConfigError(f"{origin}: unknown key '{key}'{_did_you_mean(err['loc'], RunConfig)}")
    return ConfigError(f"{origin}: {key}: {err['msg']} (got {err.get('input')!r})")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``budget.utility_calls=10`` -> (["budget", "utility_calls"], 10). Values are parsed as TOML, and
    so are keys: a quoted part (``cost.models."org/m-1.5".max_usd=2``) is one key, dots and all."""
    key, raw = _split_override(text)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word: treat as a string
    return _key_path(key), value


def _split_override(text: str) -> tuple[str, str]:
    """KEY and VALUE of ``KEY=VALUE``, at the first ``=`` outside a quoted key part."""
    quote = ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "=":
            return text[:i].strip(), text[i + 1:]
    raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set budget.utility_calls=10")


def _key_path(key: str) -> list[str]:
    """A TOML dotted key as its parts; a key TOML cannot read (``model.name.with/slash``) is split on dots,
    as before quoted parts were understood."""
    try:
        node: Any = tomllib.loads(f"{key} = 0")
    except tomllib.TOMLDecodeError:
        if '"' in key or "'" in key:
            raise ConfigError(f"--set {key!r}: not a valid key; quote a part with dots or slashes whole, e.g. "
                              "--set 'cost.models.\"org/model-1.5\".max_model_calls=10'") from None
        return key.split(".")
    path = []
    while isinstance(node, dict) and len(node) == 1:
        (part, node), = node.items()
        path.append(part)
    return path


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None,
                sets: list[str] | None = None) -> RunConfig:
    """Build a RunConfig from an optional TOML file, then flags, then ``--set`` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_toml(Path(path))
        _validated(data, str(path))  # a mistake in the file is blamed on the file, one in a flag on the flag
    for keys, value in [(k.split("."), v) for k, v in (overrides or {}).items() if v is not None] + \
            [parse_override(s) for s in sets or []]:
        _put(data, keys, value)
    return _validated(data, "--set/flags" if path else "configuration")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found; pass an existing TOML file") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory; pass a TOML file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text; pass a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def _put(data: dict[str, Any], keys: list[str], value: Any) -> None:
    node = data
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{'.'.join(keys)}: '{k}' is not a section")
    node[keys[-1]] = value


def _validated(data: dict[str, Any], origin: str) -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise _translate(exc, origin) from None


#: Keys a resumed run may change: they change how or how far it runs, never what it computes (caps,
#: executors, transport). Anything else would mix two experiments in one store.
RESUMABLE_KEYS = ("iterations", "cost.", "sandbox.executor", "sandbox.allow_unsandboxed", "sandbox.parallel",
                  "sandbox.cpus", "sandbox.ray_address", "budget.final_tests",
                  *(f"{section}.{key}" for section in ("model", *(f"model.{r}" for r in MODEL_ROLES))
                    for key in ("base_url", "api_key_env", "concurrency", "timeout", "max_retries", "n_threads")))


def resume_config(stored: dict[str, Any], sets: list[str] | None = None) -> RunConfig:
    """The stored config of a run with ``--set`` overrides of the keys a resume may change."""
    data = dict(stored)
    for text in sets or []:
        keys, value = parse_override(text)
        dotted = ".".join(keys)
        if not any(dotted == k or (k.endswith(".") and dotted.startswith(k)) for k in RESUMABLE_KEYS):
            raise ConfigError(f"--set {dotted} cannot change when resuming: it changes what the run computes; "
                              f"start a new run instead (a resume may change: {', '.join(RESUMABLE_KEYS)})")
        _put(data, keys, value)
    return _validated(data, "resumed configuration")
