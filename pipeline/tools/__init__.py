"""Offline tools, run by hand or by make: `python -m pipeline.tools.<name>` (bench, yardstick, regimes,
gate_check, gate_compare, judge_table, adder_check, imports_check). Nothing in the loop imports them."""
