"""Successor: a small model makes the data its successor learns from; a gate decides if it is better."""
