"""Decide what to do with what the recogniser heard: act, ask first, or ignore.

Rejection lives here, not in the recogniser, because it depends on what the
words would do. The rules, safest first:

- While the companion is speaking (and for a short tail after), only stop
  phrases count: its own voice must never move the session on. One exception:
  while it is saying a yes/no question of its own ("Did you say pause? Say yes
  or no."), a yes or no is the answer to it (people answer before a question
  ends). Its own voice must not answer itself, so without a working echo
  canceller an answer over it counts only when it was heard surely and its
  meaning is not a word of the question itself: "yes" over "Say yes or no" is
  most likely that "yes" coming back.
- "stop" is never delayed by a question. Heard clearly, it stops. Heard
  unclearly, it pauses at once (everything goes quiet) and asks whether to end.
  Over the companion's own voice that holds only once the echo canceller has
  learnt the room (speech/echo.py); without one, or before, only a clear stop
  counts, because an unclear one is usually its own voice coming back.
- A command that changes the session (next, back, resume, slower, ...) heard
  unclearly is asked about first ("Skip to the next step?").
- Questions and help change nothing, so a middling confidence is enough.
- Anything below the floor is ignored silently: coughs and the TV get no reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from companion.engine.events import Command
from companion.speech.ports import Recognition
from companion.language.vocabulary import Vocabulary

# An utterance that began over the companion's voice but is understood after it stopped speaking
# (the echo tail included) still counts as said over what it said last, for this long: about a
# short answer said at the end of a question, the recogniser's end-of-speech wait and its decoding.
ANSWER_GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class Policy:
    # Measured operating point (bench/README.md, chosen on the full generated grid and the
    # real recordings): acting at once needs a sure recognition; the wide "ask" band keeps
    # false commands under 1%.
    act: float = 0.85  # at or above: act on a state-changing command at once
    ask: float = 0.2  # at or above (and below act): ask first; below: ignore
    harmless: float = 0.2  # at or above: answer help/status/repeat at once
    stop: float = 0.85  # at or above: stop; between ask and this: pause at once and ask
    answer: float = 0.3  # at or above: take a yes/no (nothing reads it back, so a little stricter)


@dataclass(frozen=True)
class Decision:
    """``kind`` is "command", "confirm", "answer", "number" or "ignore"."""

    kind: str
    command: Command | None = None
    answer: bool | None = None
    number: int | None = None
    reason: str = ""

    @property
    def label(self) -> str | None:
        """What was understood, acted on or asked about: "stop", "yes"/"no", "number:3"; None if ignored."""
        if self.kind in ("command", "confirm") and self.command:
            return self.command.value
        if self.kind == "answer":
            return "yes" if self.answer else "no"
        if self.kind == "number":
            return f"number:{self.number}"
        return None


def _no_canceller() -> bool:
    return False


class Understanding:
    """``echo_cancelled()`` says whether the companion's own voice is being taken out of the
    microphone signal right now (a canceller is running and has learnt the room)."""

    def __init__(self, vocabulary: Vocabulary, policy: Policy = Policy(),
                 echo_cancelled: Callable[[], bool] = _no_canceller):
        self.vocabulary = vocabulary
        self.policy = policy
        self.echo_cancelled = echo_cancelled

    def decide(self, heard: Recognition, speaking: bool = False, speaking_text: str = "",
               question: str = "") -> Decision:
        """``speaking_text`` is what the companion is saying now, if anything; ``question`` the yes/no
        question it waits on an answer to ("" if none): a yes or no said over that question counts."""
        text, conf, policy = heard.text, heard.confidence, self.policy
        if not text:
            return Decision("ignore", reason="nothing in the grammar was heard")
        match = self.vocabulary.match(text)
        if speaking and match is None and question and self._same(speaking_text, question):
            answer = self.vocabulary.answer(text)
            if answer is not None:
                return self._answer_over_question(answer, conf, speaking_text)
        if speaking and (match is None or match.command is not Command.STOP):
            return Decision("ignore", reason="the companion was speaking; only stop counts then")
        raw_echo = speaking and not self.echo_cancelled()
        if raw_echo and speaking_text and f" {match.phrase} " in f" {self.vocabulary.normalise(speaking_text)} ":
            # Its own "...say stop" coming back through the microphone; a real stop said over it
            # is lost only for the length of that one sentence.
            return Decision("ignore", reason="the companion itself was saying that word")
        if match is None:
            answer = self.vocabulary.answer(text)
            if answer is not None and conf >= policy.answer:
                return Decision("answer", answer=answer)
            number = self.vocabulary.number(text)
            if number is not None and conf >= policy.ask:
                return Decision("number", number=number)
            return Decision("ignore", reason=f"'{text}' is not a command here, or too unsure ({conf:.2f})")
        command = match.command
        if command is Command.STOP:
            if raw_echo and conf < policy.stop:
                # Over its own voice, not cancelled, an unsure "stop" is most likely an echo of that
                # voice ("3." heard as "please stop"): only a sure one counts.
                return Decision("ignore", reason=f"unsure stop ({conf:.2f}) while the companion was speaking")
            if conf >= policy.stop:
                return Decision("command", command)
            if conf >= policy.ask:
                return Decision("confirm", command, reason="unsure stop: pause now, then ask")
            return Decision("ignore", reason=f"too unsure of stop ({conf:.2f})")
        if not self.vocabulary.changes_state(command):
            if conf >= policy.harmless:
                return Decision("command", command)
            return Decision("ignore", reason=f"too unsure ({conf:.2f})")
        if conf >= policy.act:
            return Decision("command", command)
        if conf >= policy.ask:
            return Decision("confirm", command, reason=f"unsure ({conf:.2f}): ask first")
        return Decision("ignore", reason=f"too unsure ({conf:.2f})")

    def _same(self, said: str, question: str) -> bool:
        normalise = self.vocabulary.normalise
        return bool(said) and normalise(said) == normalise(question)

    def _answer_over_question(self, answer: bool, conf: float, question: str) -> Decision:
        """A yes or no heard while the companion says its own yes/no question."""
        policy = self.policy
        if not self.echo_cancelled():
            # Its own voice comes back into the microphone as it is: "...say yes or no" must not answer
            # itself, and anything else it says is heard as the nearest answer, unsurely.
            if self._says_answer(question, answer):
                return Decision("ignore", reason="the companion itself was saying that answer in its question")
            if conf < policy.act:
                return Decision("ignore", reason=f"unsure answer ({conf:.2f}) over the companion's own question")
        if conf >= policy.answer:
            return Decision("answer", answer=answer, reason="an answer to the question it was asking")
        return Decision("ignore", reason=f"too unsure of the answer ({conf:.2f})")

    def _says_answer(self, text: str, answer: bool) -> bool:
        """Whether ``text`` contains a word or phrase that means ``answer`` ("yes", "right", ...)."""
        vocabulary = self.vocabulary
        said = f" {vocabulary.normalise(text)} "
        return any(f" {phrase} " in said for phrase in vocabulary.grammar("answer")
                   if vocabulary.answer(phrase) is answer)
