"""Benchmark scripts; each prints a table and saves it under benchmarks/results/."""
