"""Hostile RPCs: hand-written rpc frames of every wrong shape, and wrong arguments through the ordinary
``utility``/``language_model`` proxies. The host refuses them (the program sees an error) or records a
``protocol`` verdict, and never raises: a frame without a call's structure reaches no handler; values
outside the paper's interface are refused by a checking handler, and a handler that chokes on them
stops the program instead of the host. Budgets stay the host's."""

from __future__ import annotations

from selftaught.sandbox.conformance.case import Case
from selftaught.sandbox.conformance.programs import CHANNEL
from selftaught.sandbox.conformance.rpc import served
from selftaught.sandbox.executor import CallResult

A = "rpc"
REFUSED = ("error", "protocol", "output_limit")


def _raw_rpc(name: str, why: str, expr: str, naive: bool = False) -> Case:
    """``expr``: the rpc frame's body as Python text, evaluated in the sandbox (str)."""
    source = CHANNEL + f"def attack(ctx):\n    return rpc_text({expr})\n" + RPC_TEXT
    return Case(name, A, why, drive=served(source, REFUSED, naive=naive))


RPC_TEXT = """
def rpc_text(body):
    frame(body)
    r = reply()
    if not isinstance(r, dict) or not r.get("ok"):
        raise RuntimeError("refused")
    return r.get("value")
"""


def _proxy(name: str, why: str, body: str, verdicts: tuple[str, ...] = ("error", "ok", "protocol"),
           naive: bool = False) -> Case:
    source = "def attack(ctx, utility, language_model):\n" + body
    return Case(name, A, why, drive=served(source, verdicts, proxies=True, naive=naive))


def _budget_held(res: CallResult, handler: object) -> str | None:
    import ast

    scores, forged = ast.literal_eval(res.value)
    if scores != [0.5] * 3 + [None] * 5:
        return f"scores {scores}: the host's budget of 3 calls did not hold"
    if any(f != "refused" for f in forged):
        return f"forged calls were served: {forged}"
    return None


MONKEYPATCH = """def attack(ctx, utility, language_model):
    utility.budget = 10**9
    language_model.budget = 10**9
    scores = []
    for _ in range(8):
        try:
            scores.append(utility('def algorithm(x):\\n    return x\\n'))
        except Exception:
            scores.append(None)
    forged = []
    for target, method in (('utility', 'set_budget'), ('language_model', 'reset'), ('host', 'exec')):
        try:
            forged.append(utility._rpc(target, method, [10**9]))
        except Exception:
            forged.append('refused')
    return repr((scores, forged))
"""

CASES = [
    _raw_rpc("rpc_missing_args", "an rpc frame without args",
             repr('{"op":"rpc","target":"utility","method":"__call__"}')),
    _raw_rpc("rpc_missing_target", "an rpc frame without a target",
             repr('{"op":"rpc","method":"__call__","args":["x"]}')),
    _raw_rpc("rpc_target_not_string", "an rpc frame whose target is a number",
             repr('{"op":"rpc","target":123,"method":"__call__","args":["x"]}')),
    _raw_rpc("rpc_method_null", "an rpc frame whose method is null",
             repr('{"op":"rpc","target":"utility","method":null,"args":["x"]}')),
    _raw_rpc("rpc_args_string", "an rpc frame whose args is a string",
             repr('{"op":"rpc","target":"utility","method":"__call__","args":"abc"}')),
    _raw_rpc("rpc_args_dict", "an rpc frame whose args is a dict",
             repr('{"op":"rpc","target":"utility","method":"__call__","args":{"a":1}}')),
    _raw_rpc("rpc_unknown_target", "an rpc to a target that does not exist",
             repr('{"op":"rpc","target":"host","method":"exec","args":["rm -rf /"]}')),
    _raw_rpc("rpc_unknown_method", "an rpc to a method the utility does not have",
             repr('{"op":"rpc","target":"utility","method":"set_budget","args":[1000000]}')),
    _raw_rpc("rpc_nested_200k", "an rpc whose args are nested 200,000 deep",
             "'{\"op\":\"rpc\",\"target\":\"utility\",\"method\":\"__call__\",\"args\":' + '[' * 200000 + "
             "']' * 200000 + '}'"),
    _raw_rpc("rpc_prompt_n_infinity", "prompt with n_responses = Infinity",
             repr('{"op":"rpc","target":"language_model","method":"prompt","args":["e","m",Infinity,0.7]}'),
             naive=True),
    _raw_rpc("rpc_prompt_n_400_digits", "prompt with n_responses a 400-digit integer",
             "'{\"op\":\"rpc\",\"target\":\"language_model\",\"method\":\"prompt\",\"args\":[\"e\",\"m\",' "
             "+ '9' * 400 + ',0.7]}'", naive=True),
    _raw_rpc("rpc_utility_two_args", "utility called with two arguments",
             repr('{"op":"rpc","target":"utility","method":"__call__","args":["a","b"]}')),
    _raw_rpc("rpc_prompt_short_args_naive", "prompt with one argument, to a handler that indexes args[2]",
             repr('{"op":"rpc","target":"language_model","method":"prompt","args":["e"]}'), naive=True),
    _proxy("prompt_n_infinity", "language_model.prompt(e, m, float('inf')) through the ordinary proxy",
           "    return language_model.prompt('expert', 'write code', float('inf'))\n", ("error", "protocol")),
    _proxy("prompt_n_huge", "prompt asking for 10**9 responses",
           "    return len(language_model.prompt('expert', 'write code', 10**9))\n", ("error", "protocol")),
    _proxy("prompt_n_zero_negative_bool", "prompt with n_responses 0, -1 and True",
           "    out = []\n    for n in (0, -1, True):\n        try:\n"
           "            out.append(language_model.prompt('e', 'm', n))\n        except Exception:\n"
           "            out.append('refused')\n    return out\n",
           ("ok", "error", "protocol")),
    _proxy("prompt_temperature_nan", "prompt with temperature NaN",
           "    return language_model.prompt('e', 'm', 1, float('nan'))\n", ("error", "protocol")),
    _proxy("prompt_temperature_400_digits", "prompt with a 400-digit integer as temperature",
           "    return language_model.prompt('e', 'm', 1, 10**400)\n", ("error", "protocol")),
    _proxy("prompt_wrong_types", "prompt with a dict as expertise and a list as message",
           "    return language_model.prompt({'a': 1}, ['m'], 1)\n", ("error", "protocol")),
    _proxy("batch_prompt_non_text", "batch_prompt with numbers and nested lists as messages",
           "    return language_model.batch_prompt('e', [1, [2, [3]], None])\n", ("error", "protocol")),
    _proxy("prompt_n_infinity_naive", "prompt(e, m, float('inf')) to a handler that calls int() on it",
           "    return language_model.prompt('expert', 'write code', float('inf'))\n", ("error", "protocol"),
           naive=True),
    _proxy("prompt_n_list_naive", "prompt with n_responses a list, to a handler that calls int() on it",
           "    return language_model.prompt('expert', 'write code', [1])\n", ("error", "protocol"), naive=True),
    _proxy("utility_non_text_solution", "utility called with a number (the proxy sends None)",
           "    return utility(12345)\n", ("ok", "error")),
    Case("monkeypatched_proxies_gain_no_budget", A,
         "rewrite the proxies' budgets and forge budget calls: the host's counters decide",
         drive=served(MONKEYPATCH, ("ok",), proxies=True, check=_budget_held)),
]
