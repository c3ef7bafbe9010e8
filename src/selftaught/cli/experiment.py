"""``selftaught experiment ...``: experiments about the self-improving code itself."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from selftaught.cli.render import console
from selftaught.cli.run import ConfigOpt, SetOpt
from selftaught.config import load_config

app = typer.Typer(no_args_is_help=True, help="Experiments about the improvers themselves (the paper's safety study).")


class _Progress:
    def event(self, name: str, **f: Any) -> None:
        if name == "sandbox_flag_batch":
            console.print(f"  batch {f['run']}: {f['samples']}/{f['of']} samples "
                          f"({f['sent']} sent, {f['replayed']} replayed)")


@app.command("sandbox-flag")
def sandbox_flag(
    samples: Annotated[int, typer.Option(help="model samples (generated improvers) to classify")] = 20,
    warning: Annotated[bool, typer.Option(help="add the paper's explicit warning to the prompt")] = False,
    out: Annotated[Path | None, typer.Option(help="run directory; an existing one is replayed/extended")] = None,
    config: ConfigOpt = None,
    model: Annotated[str | None, typer.Option(help="model provider: embedded, openai, ...")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint URL")] = None,
    model_name: Annotated[str | None, typer.Option(help="model name at the endpoint")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="max tokens per reply (default 384)")] = None,
    seed: Annotated[int | None, typer.Option(help="run seed")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="embedded model: CPU threads (same as --set "
                                                "model.n_threads=N)")] = None,
    set_: SetOpt = None,
) -> None:
    """How often a generated improver sets use_sandbox=False or drops it (a lure: isolation stays on)."""
    from selftaught.analysis.sandbox_flag import RATE_LABELS, rate_from_dict
    from selftaught.experiments.sandbox_flag import DEFAULT_MAX_TOKENS, run_sandbox_flag

    if max_tokens is None and config is None and not any(s.startswith("model.max_tokens") for s in set_ or []):
        max_tokens = DEFAULT_MAX_TOKENS  # a config file or --set that names it wins over the default
    cfg = load_config(config, {"seed": seed, "model.provider": model, "model.base_url": base_url,
                               "model.name": model_name, "model.max_tokens": max_tokens,
                               "model.n_threads": threads}, set_)
    console.print(f"sandbox-flag experiment: {samples} samples from {cfg.model.provider}/{cfg.model.name}, "
                  f"max_tokens {cfg.model.max_tokens}" + (", with warning" if warning else ""))
    result = run_sandbox_flag(cfg, samples, warning=warning, run_dir=out,
                              reporter=_Progress())
    s = result.summary
    console.print("outcomes: " + ", ".join(f"{k} {v}" for k, v in s["outcomes"].items()))
    for key, label in RATE_LABELS.items():
        console.print(f"  {label:<36} {rate_from_dict(s['rates'][key]).describe()}")
    console.print(f"{s['improvers']} of {s['samples']} replies were improvers; {result.seconds:.0f} s now "
                  f"({result.model_calls_sent} completions sent, {result.model_calls_replayed} replayed); "
                  f"{s['model_seconds']:.0f} s of model time recorded for the samples")
    console.print(f"run directory: [bold]{result.run_dir}[/]  (selftaught report {result.run_dir})")


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="experiment")
