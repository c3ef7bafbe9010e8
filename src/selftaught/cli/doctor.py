"""``selftaught doctor``: prove that each part works on this machine by using it, not by looking."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from selftaught import plugins
from selftaught.cli.render import console
from selftaught.cli.run import ConfigOpt, SetOpt
from selftaught.cli.terminal import untrusted
from selftaught.config import MODEL_ROLES, load_config
from selftaught.errors import SandboxUnavailable
from selftaught.sandbox import Limits


def _check(name: str, ok: bool, detail: str) -> bool:
    console.print(f"{'[green]ok[/]  ' if ok else '[red]FAIL[/]'} {name}: {untrusted(detail)}")
    return ok


def sandbox_probe(executor_name: str = "local") -> tuple[bool, str]:
    """Run a tiny program through the executor and check the answer comes back."""
    try:
        executor = plugins.load("executor", executor_name)()
    except SandboxUnavailable as exc:
        return False, str(exc)
    start = time.monotonic()
    try:
        with executor.spawn(Limits(wall_seconds=20)) as worker:
            loaded = worker.load("import os\ndef algorithm(x):\n    return [x * 2, sorted(os.environ)]\n")
            res = worker.call("algorithm", [21]) if loaded.ok else loaded
    finally:
        executor.close()
    if not res.ok or res.value[0] != 42:
        return False, f"a trivial program failed: {res.error}"
    leaked = [k for k in res.value[1] if "KEY" in k or "TOKEN" in k or "SECRET" in k]
    if leaked:
        return False, f"the sandbox saw host secrets: {leaked}"
    warning = "" if executor.isolated else \
        " [UNSANDBOXED: improvers refuse to run unless sandbox.allow_unsandboxed = true]"
    return True, f"{executor.describe()}; round trip {1000 * (time.monotonic() - start):.0f} ms{warning}"


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        executor: Annotated[str, typer.Option(help="executor plug-in to probe")] = "local",
        embedded: Annotated[bool, typer.Option(help="probe the embedded model")] = True,
        base_url: Annotated[str | None, typer.Option(help="also check this OpenAI-compatible endpoint")] = None,
        model_name: Annotated[str, typer.Option(help="model name at --base-url")] = "default",
        config: ConfigOpt = None,
        set_: SetOpt = None,
    ) -> None:
        """Check Python, the sandbox, the embedded model (with its tokens/s under the configured
        model.n_threads; without the embedded extra, a failure only if the configured provider is the
        embedded one) and (optionally) an endpoint."""
        cfg = load_config(config, None, set_)
        providers = sorted({cfg.model.for_role(role).provider for role in ("default", *MODEL_ROLES)})
        ok = _check("python", sys.version_info >= (3, 11), sys.version.split()[0])
        ok &= _check("sandbox", *sandbox_probe(executor))
        if embedded:
            from selftaught.models.embedded import installed, probe_in_child

            if not installed() and "embedded" not in providers:  # a core install against an endpoint
                _check("embedded model", True, f"not installed (optional: the configured model provider is "
                       f"{', '.join(providers)}; pip install 'selftaught[embedded]' to run one locally)")
            else:
                ok &= _check("embedded model", *probe_in_child(n_threads=cfg.model.n_threads))
        if base_url:
            from selftaught.models.openai_compat import OpenAICompatModel

            try:
                OpenAICompatModel(model=model_name, base_url=base_url).check()
                ok &= _check("endpoint", True, base_url)
            except Exception as exc:  # noqa: BLE001 - doctor reports, it does not crash
                ok &= _check("endpoint", False, str(exc))
        raise typer.Exit(0 if ok else 1)
