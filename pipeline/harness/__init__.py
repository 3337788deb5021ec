"""Harnesses that prove the pipeline's claims end to end: the independent oracle, the verdict
that compares outputs with it, and the chaos run (``pipeline chaos``).

Like :mod:`pipeline.demo`, this package is a composition root: it may import ``producers`` and
``consumers``; the core never imports it.
"""
