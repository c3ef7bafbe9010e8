"""The paper's concepts, one per module: utility, language model budget, improver run, meta-utility,
adoption, and the self-improvement loop (``loop.py`` shows the recursion in one screen)."""
