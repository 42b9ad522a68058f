"""The `synthspace` command line: the composition root.

This is the one place that wires node and coordinator together. It holds no logic of its
own: every command parses its options and calls a function of the Python API.
Each command group lives in its own module here and imports its heavy dependencies lazily,
so `synthspace --help` stays fast.
"""
