"""Proposers: which recipes a generation tries. Chosen by the top-level config group `proposer`."""
from pipeline.proposers.base import Candidate, Proposer, Report
from pipeline.proposers.fixed import FixedProposer
from pipeline.proposers.random import RandomProposer
from pipeline.proposers.rules import RulesProposer

__all__ = ["Candidate", "FixedProposer", "Proposer", "RandomProposer", "Report", "RulesProposer"]
