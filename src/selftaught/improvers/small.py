import re

from helpers import extract_code

# The improver's choices, as top-level constants so that improving this improver can change them.
ROUNDS = 1  # rounds of rewrites of the input, until one scores 1.0
SAMPLES = 1  # model replies per round
TEMPERATURE = 0.2  # sampling temperature of the rewrites
# One-constant variants offered as candidates when this improver improves an improver that has the
# same constants: each is the parent with one constant moved by this step (up and down).
STEPS = {"ROUNDS": 1, "SAMPLES": 1}


def variants(source, language_model):
    """The parent with one of its STEPS constants moved by one step, within the model budgets."""
    limits = {"ROUNDS": language_model.budget, "SAMPLES": language_model.max_responses_per_call}
    found = []
    for name, step in STEPS.items():
        match = re.search(r"^" + name + r" = ([0-9.]+)", source, re.MULTILINE)
        if not match:
            continue
        value = float(match.group(1)) if "." in match.group(1) else int(match.group(1))
        for new in (value + step, value - step):
            if 0 < new <= limits.get(name, new):
                line = name + " = " + repr(round(new, 3) if isinstance(new, float) else new)
                found.append(source[:match.start()] + line + source[match.end():])
    return found


def improve_algorithm(initial_solution, utility, language_model):
    """A seed improver for small models: up to ROUNDS rounds of SAMPLES short-prompt rewrites of the
    input at TEMPERATURE, stopping once the utility reaches 1.0; the input's import lines put back when
    a rewrite dropped them, and the input kept when nothing beats it. Given an improver with the same
    constants (itself, in self-improvement), it also scores one-constant variants of it."""
    expertise = "You are a careful Python programmer."
    imports = [line for line in initial_solution.splitlines() if line.startswith(("import ", "from "))]
    best, best_score = initial_solution, utility(initial_solution)
    for candidate in variants(initial_solution, language_model):
        score = utility(candidate)
        if score > best_score:
            best, best_score = candidate, score
    n_samples = max(1, min(SAMPLES, language_model.max_responses_per_call))
    message = (f"{utility.str}\n\nCurrent code:\n```python\n{initial_solution}\n```\n"
               "Write a better version of this code. Reply with one python code block only.")
    for _ in range(min(ROUNDS, language_model.budget)):
        if best_score >= 1.0:
            break
        replies = language_model.batch_prompt(expertise, [message] * n_samples, temperature=TEMPERATURE)
        for code in extract_code(replies):
            if not code:
                continue
            missing = [line for line in imports if line not in code]
            candidate = "\n".join(missing + [code])
            score = utility(candidate)
            if score > best_score:
                best, best_score = candidate, score
    return best
