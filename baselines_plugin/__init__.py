"""Numeric baselines for pytest: syrupy snapshots kept as readable JSON, compared within tolerances.

- ``plugin.py``: the ``baseline`` fixture, the folder layout and the narrowing of discovery;
  load it with ``pytest_plugins = ["baselines_plugin.plugin"]`` in the root conftest.py.
- ``hooks.py``: what a project implements in its conftest.py to fit the plugin to its options.
- ``extension.py``: the syrupy extension; a test subclasses it to declare its tolerances.
- ``tolerance.py``: the number-by-number comparison (no pytest, no syrupy).
"""
