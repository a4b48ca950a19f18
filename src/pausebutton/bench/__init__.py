"""Benchmarks behind ``pausebutton bench`` (see benchmarks/README.md)."""
