"""Code that runs INSIDE the sandbox. Standard library only; imports nothing else from selftaught.

The directory is put on the sandboxed interpreter's ``sys.path`` as is, so ``helpers`` is importable
the way the paper's improvers expect (``from helpers import extract_code``).
"""
