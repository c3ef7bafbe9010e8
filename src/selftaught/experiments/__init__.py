"""Experiments about the self-improving code itself (not about a task): they ask the model, so they
live outside ``analysis`` (which reads the store only) and classify what came back with it."""
