import re

from helpers import extract_code

# The improver's choices, as top-level constants so that improving this improver can change them.
ROUNDS = 1  # rounds of model rewrites (one model call each)
SAMPLES = 1  # model replies per round
TEMPERATURE = 0.2  # sampling temperature of the rewrites
REFINE = 0  # 1: each round after the first rewrites the best program so far; 0: the input again
FEEDBACK = 0  # 1: the prompt shows validation cases the program gets wrong (utility.feedback)
# One-constant variants offered as candidates when this improver improves an improver that has the
# same constants: each is the parent with one constant moved by this step (up and down), within RANGES.
STEPS = {"SAMPLES": 2, "ROUNDS": 1, "REFINE": 1, "FEEDBACK": 1}
RANGES = {"ROUNDS": (1, 4), "SAMPLES": (1, 6), "REFINE": (0, 1), "FEEDBACK": (0, 1)}


def variants(source, language_model):
    """The parent with one of its STEPS constants moved by one step, within RANGES and the model budgets."""
    caps = {"ROUNDS": language_model.budget, "SAMPLES": language_model.max_responses_per_call}
    found = []
    for name, step in STEPS.items():
        match = re.search(r"^" + name + r" = ([0-9.]+)", source, re.MULTILINE)
        if not match:
            continue
        value = float(match.group(1)) if "." in match.group(1) else int(match.group(1))
        low, high = RANGES[name]
        for new in (value + step, value - step):
            if low <= new <= min(high, caps.get(name, high)):
                line = name + " = " + repr(round(new, 3) if isinstance(new, float) else new)
                found.append(source[:match.start()] + line + source[match.end():])
    return found


def ask(utility, program, use_feedback):
    """The rewrite request for ``program``: the task, the code, and (with feedback) what it gets wrong."""
    message = f"{utility.str}\n\nCurrent code:\n```python\n{program}\n```\n"
    if use_feedback:
        message += f"\nIts results:\n{utility.feedback(program)}\n"
    return message + "Write a better version of this code. Reply with one python code block only."


def improve_algorithm(initial_solution, utility, language_model):
    """A seed improver for small models: up to ROUNDS rounds of SAMPLES short-prompt rewrites at
    TEMPERATURE, of the input or (REFINE) of the best program so far, with (FEEDBACK) the validation
    cases it gets wrong in the prompt; it stops once the utility reaches 1.0, puts back the input's
    import lines when a rewrite dropped them, and keeps the input when nothing beats it (the documented
    fallback, not a hack). Given an improver with the same constants (itself, in self-improvement), it
    scores one-constant variants of it and asks the model for nothing: a 135M model cannot rewrite an
    improver, and the variants are the search that pays."""
    expertise = "You are a careful Python programmer."
    imports = [line for line in initial_solution.splitlines() if line.startswith(("import ", "from "))]
    best, best_score = initial_solution, utility(initial_solution)
    options = variants(initial_solution, language_model)
    for candidate in options:
        score = utility(candidate)
        if score > best_score:
            best, best_score = candidate, score
    if options:
        return best
    n_samples = max(1, min(SAMPLES, language_model.max_responses_per_call))
    for round_ in range(min(ROUNDS, language_model.budget)):
        if best_score >= 1.0:
            break
        program = best if REFINE and round_ > 0 else initial_solution
        message = ask(utility, program, FEEDBACK)
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
