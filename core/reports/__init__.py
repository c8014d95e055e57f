"""Oversight: the company's state in numbers (reports), and its data taken out (exports)."""
