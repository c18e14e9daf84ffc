"""Proposers: which recipes a generation tries. Chosen by the top-level config group `proposer`."""
from pipeline.components.proposers.base import Proposer
from pipeline.components.proposers.fixed import FixedProposer
from pipeline.components.proposers.random import RandomProposer
from pipeline.components.proposers.rules import RulesProposer

__all__ = ["FixedProposer", "Proposer", "RandomProposer", "RulesProposer"]
