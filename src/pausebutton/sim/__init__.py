"""Simulations and demonstrations that run the real protocol code."""
