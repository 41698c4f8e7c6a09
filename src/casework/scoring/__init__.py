"""Scoring: pure functions over plain data that judge a trajectory and summarise a run.

- :mod:`.reward`: the tau-bench reward (database hash + expected outputs).
- :mod:`.actions`: action matching, precision / recall / F1, exact match.
- :mod:`.shaped`: a shaped (dense) reward for reinforcement learning.
- :mod:`.errors`: the error taxonomy of a failed task.
- :mod:`.metrics`: success rate, average reward, pass^k with Wilson and bootstrap intervals.
"""

from casework.scoring.actions import (
    PRF,
    ActionMetrics,
    action_metrics,
    match_actions,
)
from casework.scoring.errors import (
    ErrorCategory,
    FailureDiagnosis,
    classify_failure,
    is_infrastructure_error,
    is_user_simulator_error,
)
from casework.scoring.metrics import (
    PassK,
    average_reward,
    count_infrastructure_errors,
    pass_hat_k,
    pass_hat_k_per_task,
    pass_k_table,
    rewards_of,
    success_rate,
    successes_by_task,
    wilson_interval,
)
from casework.scoring.reward import RewardBreakdown, compute_reward, outputs_found
from casework.scoring.shaped import ShapedReward, ShapedWeights, shaped_reward

__all__ = [
    "PRF",
    "ActionMetrics",
    "ErrorCategory",
    "FailureDiagnosis",
    "PassK",
    "RewardBreakdown",
    "ShapedReward",
    "ShapedWeights",
    "action_metrics",
    "average_reward",
    "classify_failure",
    "compute_reward",
    "count_infrastructure_errors",
    "is_infrastructure_error",
    "is_user_simulator_error",
    "match_actions",
    "outputs_found",
    "pass_hat_k",
    "pass_hat_k_per_task",
    "pass_k_table",
    "rewards_of",
    "success_rate",
    "successes_by_task",
    "shaped_reward",
    "wilson_interval",
]
