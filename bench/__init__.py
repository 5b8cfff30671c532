"""Lixiao benchmarks: ``python -m bench --help``.

Only this package and ``docs/performance.md`` are written by the benchmarks. Each
benchmark owns one block of ``docs/performance.md`` delimited by
``<!-- bench:<name>:start -->`` / ``<!-- bench:<name>:end -->`` (see :mod:`bench.report`).
"""
