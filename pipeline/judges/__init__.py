"""Judges: which self-generated answers survive into the successor's training data.

A judge sees what an autonomous system could see: the prompts, the champion's answers,
the champion itself and the task's format rules. Only judges that declare
`reads_ground_truth = True` (oracle, noisy_oracle: upper bounds, not autonomy) are handed
the true answers, and the curate stage enforces that.
"""
from pipeline.judges.base import Judge, JudgeInput
from pipeline.judges.simple import LengthJudge, NoJudge, NoisyOracleJudge, OracleJudge
from pipeline.judges.majority import MajorityJudge
from pipeline.judges.consistency import ConsistencyJudge
from pipeline.judges.committee import CommitteeJudge
from pipeline.judges.peers import PeersJudge
from pipeline.judges.learned import LearnedJudge
from pipeline.judges.split import SplitJudge
from pipeline.judges.any_of import AnyOf

__all__ = ["AnyOf", "CommitteeJudge", "ConsistencyJudge", "LearnedJudge", "Judge", "JudgeInput", "LengthJudge", "MajorityJudge", "NoJudge", "NoisyOracleJudge", "OracleJudge", "PeersJudge", "SplitJudge"]
