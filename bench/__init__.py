"""Traybell's benchmarks: `python -m bench [--quick] [--json PATH]` from the repository root.

Every figure stands beside a baseline measured in the same run on the same machine; see
docs/BENCHMARKS.md for what each baseline is.
"""
