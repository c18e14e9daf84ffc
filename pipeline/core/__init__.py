"""The loop's infrastructure: the run folder, the context every stage reads, config validation and plug-ins,
the counted path to ground truth, the knowledge ledger, the seed cache, logging and the report."""
