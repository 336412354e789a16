"""The pain rules of the McKenzie method, as a pure function.

Pain that moves further down the leg (peripheralisation) or rises by two or
more points during an exercise means stop that exercise; pain that moves back
towards the spine (centralisation) is a good sign. Places are ranked from the
back outwards: none < back < buttock < thigh < below the knee; for the neck the
same rules use none < neck < shoulder < arm < hand (:data:`ARM_PLACE_ORDER`).
Pain is "spread" once it reaches the first place beyond the spine (the buttock,
the shoulder).

:func:`judge_during` is the rise rule for pain said to be worse in the middle of
an exercise, at the same place, when a score is asked for there and then.
"""

from __future__ import annotations

from dataclasses import dataclass

PLACE_ORDER = ("none", "back", "buttock", "thigh", "below-knee")
ARM_PLACE_ORDER = ("none", "neck", "shoulder", "arm", "hand")
SPREAD_FROM = 2  # the rank of the first place beyond the spine: the buttock, the shoulder
RISE_LIMIT = 2
# Pain said to be worse mid-exercise when no score was given before the exercise (no profile,
# or no pain check): nothing to measure a rise against, so a score this high stops the exercise.
# 7 of 10 is "severe" on the usual 0-10 scale; below it the exercise goes on, gently.
HIGH_PAIN = 7


@dataclass(frozen=True)
class Verdict:
    kind: str  # "spread", "rise", "high", "centralised", "same"
    rise: int = 0


def judge(score_before: int, place_before: str, score_after: int, place_after: str,
          order: tuple[str, ...] = PLACE_ORDER) -> Verdict:
    """What the change from before to after an exercise means (``order``: the places, spine outwards)."""
    rank_before = order.index(place_before) if place_before in order else 0
    rank_after = order.index(place_after) if place_after in order else 0
    if rank_after > rank_before and rank_after >= SPREAD_FROM:
        return Verdict("spread")
    rise = score_after - score_before if score_before >= 0 and score_after >= 0 else 0
    if rise >= RISE_LIMIT:
        return Verdict("rise", rise)
    if rank_after < rank_before and rank_before >= SPREAD_FROM:
        return Verdict("centralised")
    return Verdict("same")


def judge_during(score_before: int | None, score_now: int) -> Verdict:
    """Pain said to be worse during an exercise, at the same place, scored ``score_now``.

    Against the score given before the exercise, a rise of :data:`RISE_LIMIT` or more stops
    it ("rise"); with no earlier score, a score of :data:`HIGH_PAIN` or more does ("high").
    """
    if score_before is not None and score_before >= 0:
        rise = score_now - score_before
        return Verdict("rise", rise) if rise >= RISE_LIMIT else Verdict("same")
    return Verdict("high") if score_now >= HIGH_PAIN else Verdict("same")
