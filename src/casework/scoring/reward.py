"""The tau-bench task reward: the database ended as the ground truth leaves it, and the agent said
every expected output.

- **Database**: the caller replays the ground-truth actions on a fresh fork and compares canonical
  hashes (``expected_hash``) with the state the agent left (``actual_hash``).
- **Outputs**: an expected output counts as said when, lower-cased with every comma removed, it is a
  substring of some agent message lower-cased with every comma removed (so ``"1,234.50"`` is found
  in ``"The total is 1234.50."``). This is tau-bench v1's rule.

The reward is 1.0 only when both hold, else 0.0; :class:`RewardBreakdown` reports each part.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field


def _fold(text: str) -> str:
    return text.lower().replace(",", "")


def outputs_found(expected_outputs: Sequence[str], agent_messages: Sequence[str | None]) -> list[bool]:
    """For each expected output, whether some agent message contains it (case and commas ignored).

    None messages (an assistant turn with only tool calls) are skipped.
    """
    folded = [_fold(m) for m in agent_messages if m]
    return [any(_fold(output) in message for message in folded) for output in expected_outputs]


@dataclass(frozen=True)
class RewardBreakdown:
    """The reward and the two checks it is made of."""

    reward: float
    db_match: bool
    outputs_match: bool
    outputs_found: list[bool] = field(default_factory=list)
    expected_hash: Hashable | None = None
    actual_hash: Hashable | None = None

    @property
    def success(self) -> bool:
        return self.reward >= 1.0


def compute_reward(
    expected_hash: Hashable,
    actual_hash: Hashable,
    expected_outputs: Sequence[str],
    agent_messages: Sequence[str | None],
) -> RewardBreakdown:
    """Reward 1.0 iff the hashes are equal and every expected output was said, else 0.0."""
    found = outputs_found(expected_outputs, agent_messages)
    db_match = expected_hash == actual_hash
    outputs_match = all(found)
    return RewardBreakdown(
        reward=1.0 if db_match and outputs_match else 0.0,
        db_match=db_match,
        outputs_match=outputs_match,
        outputs_found=found,
        expected_hash=expected_hash,
        actual_hash=actual_hash,
    )
