from selftaught import extract_code


def test_tagged_block_is_extracted_without_fences():
    assert extract_code("text\n```python\nx = 1\n```\nmore") == "x = 1"


def test_untagged_and_indented_fences_are_accepted():
    assert extract_code("```\ny = 2\n```") == "y = 2"
    assert extract_code("Here:\n    ```python\n    def f():\n        return 1\n    ```") == "def f():\n    return 1"


def test_largest_block_wins():
    reply = "```python\na = 1\n```\nand\n```python\ndef f():\n    return 2\n```"
    assert extract_code(reply) == "def f():\n    return 2"


def test_no_code_gives_none_and_lists_map():
    assert extract_code("no code here") is None
    assert extract_code(42) is None
    assert extract_code(["```python\nz = 3\n```", "nothing"]) == ["z = 3", None]


def test_untagged_block_does_not_hide_later_blocks():
    reply = "```\nnote\n```\n```python\ndef g():\n    return 'longer block'\n```"
    assert extract_code(reply) == "def g():\n    return 'longer block'"


def test_improver_with_fenced_prompt_string_is_not_cut_apart():
    improver = (
        "from helpers import extract_code\n\n"
        "def improve_algorithm(initial_solution, utility, language_model):\n"
        '    message = f"""Improve:\n```python\n{initial_solution}\n```\nThanks."""\n'
        "    return extract_code(language_model.batch_prompt('x', [message], 0.7))[0]"
    )
    reply = f"Here is my improver:\n```python\n{improver}\n```\nDone."
    assert extract_code(reply) == improver


def test_unterminated_block_from_a_truncated_reply():
    assert extract_code("```python\ndef h():\n    return 5") == "def h():\n    return 5"
