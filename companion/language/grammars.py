"""What the recogniser should listen for in each dialogue state.

A smaller grammar is a more accurate one: "yes" cannot be heard as "faster"
when "faster" is not in it. The states are named once here.
"""

from __future__ import annotations

from companion.engine.events import Command
from companion.language.vocabulary import Vocabulary


def grammar_for(context: str, vocabulary: Vocabulary) -> list[str] | None:
    """What to listen for in a dialogue context; None is free speech (a question).

    "place" (where pain is felt) is the vocabulary's place words, plus stop and
    resume (its first phrase, "resume" in English), which work everywhere;
    "arm-place" the same with the arm's place words (neck, shoulder, arm, hand).
    """
    if context == "question":
        return None
    if context == "place":
        return sorted({*vocabulary.place_words, *vocabulary.stop_phrases(), *vocabulary.phrases(Command.RESUME)[:1]})
    if context == "arm-place":  # where neck pain is felt: neck, shoulder, arm, hand
        return sorted({*vocabulary.arm_place_words, *vocabulary.stop_phrases(),
                       *vocabulary.phrases(Command.RESUME)[:1]})
    return vocabulary.grammar(context)
