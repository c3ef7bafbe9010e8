from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """A seed improver for small models: a short prompt at low temperature, the input's import lines
    put back when a rewrite dropped them, and the input kept when no rewrite beats it."""
    expertise = "You are a careful Python programmer."
    message = (f"{utility.str}\n\nCurrent code:\n```python\n{initial_solution}\n```\n"
               "Write a better version of this code. Reply with one python code block only.")
    n_messages = max(1, min(language_model.max_responses_per_call, utility.budget - 1))
    replies = language_model.batch_prompt(expertise, [message] * n_messages, temperature=0.2)
    imports = [line for line in initial_solution.splitlines() if line.startswith(("import ", "from "))]
    best_solution, best_score = initial_solution, utility(initial_solution)
    for code in extract_code(replies):
        if not code:
            continue
        missing = [line for line in imports if line not in code]
        candidate = "\n".join(missing + [code])
        score = utility(candidate)
        if score > best_score:
            best_solution, best_score = candidate, score
    return best_solution
