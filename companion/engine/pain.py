"""The pain rules of the McKenzie method, as a pure function.

Pain that moves further down the leg (peripheralisation) or rises by two or
more points during an exercise means stop that exercise; pain that moves back
towards the spine (centralisation) is a good sign. Places are ranked from the
back outwards: none < back < buttock < thigh < below the knee.
"""

from __future__ import annotations

from dataclasses import dataclass

PLACE_ORDER = ("none", "back", "buttock", "thigh", "below-knee")
RISE_LIMIT = 2


@dataclass(frozen=True)
class Verdict:
    kind: str  # "spread", "rise", "centralised", "same"
    rise: int = 0


def judge(score_before: int, place_before: str, score_after: int, place_after: str) -> Verdict:
    """What the change from before to after an exercise means."""
    rank_before = PLACE_ORDER.index(place_before) if place_before in PLACE_ORDER else 0
    rank_after = PLACE_ORDER.index(place_after) if place_after in PLACE_ORDER else 0
    if rank_after > rank_before and rank_after >= PLACE_ORDER.index("buttock"):
        return Verdict("spread")
    rise = score_after - score_before if score_before >= 0 and score_after >= 0 else 0
    if rise >= RISE_LIMIT:
        return Verdict("rise", rise)
    if rank_after < rank_before and rank_before >= PLACE_ORDER.index("buttock"):
        return Verdict("centralised")
    return Verdict("same")
