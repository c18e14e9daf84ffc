"""Judges: which self-generated answers survive into the successor's training data.

A judge sees what an autonomous system could see: the prompts, the champion's answers,
the champion itself and the task's format rules. Only judges that declare
`reads_ground_truth = True` (oracle, noisy_oracle: upper bounds, not autonomy) are handed
the true answers, and the curate stage enforces that.
"""
from pipeline.components.judges.any_of import AnyOf
from pipeline.components.judges.base import Judge, JudgeInput
from pipeline.components.judges.committee import CommitteeJudge
from pipeline.components.judges.consistency import ConsistencyJudge
from pipeline.components.judges.learned import LearnedJudge
from pipeline.components.judges.majority import MajorityJudge
from pipeline.components.judges.peers import PeersJudge
from pipeline.components.judges.simple import LengthJudge, NoisyOracleJudge, NoJudge, OracleJudge
from pipeline.components.judges.split import SplitJudge

__all__ = ["AnyOf", "CommitteeJudge", "ConsistencyJudge", "LearnedJudge", "Judge", "JudgeInput", "LengthJudge", "MajorityJudge", "NoJudge", "NoisyOracleJudge", "OracleJudge", "PeersJudge", "SplitJudge"]
