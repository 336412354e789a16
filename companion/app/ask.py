"""``companion ask`` without a typed question: hear one spoken question, and speak the answer."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from companion.app import devices
from companion.language.heard import Heard
from companion.language.vocabulary import load_vocabulary
from companion.speech.audio.microphone import MicrophoneUnavailable
from companion.speech.audio.segmenter import Segmenter
from companion.speech.audio.wav import load_wav_16k
from companion.speech.ports import Recognition, Recognizer, RecognizerUnavailable, decode


class HeardNothing(Exception):
    """A recording could not be read or held no words; the message says which, for people."""


@dataclass(frozen=True)
class SpokenQuestion:
    """A question heard aloud: the transcript, and every reading of it worth answering (transcript first)."""

    text: str
    readings: tuple[str, ...] = ()
    decode_ms: float = 0.0


def _spoken(recognition: Recognition) -> SpokenQuestion:
    readings = tuple(Heard(0.0, recognition.text, "voice", recognition).readings) if recognition.text else ()
    return SpokenQuestion(recognition.text, readings, recognition.decode_ms)


def question_recognizer() -> Recognizer:
    """The default recogniser, for one spoken question: told the domain's words (see vocabulary.yaml)."""
    return devices.make_recognizer(["question"], hints=load_vocabulary().hints())


def transcribe_file(path: Path) -> SpokenQuestion:
    """The question spoken in a WAV file, heard as free speech, and the milliseconds it took to decode."""
    try:
        pcm = load_wav_16k(path)
    except (OSError, ValueError, EOFError) as exc:
        raise HeardNothing(f"{path}: cannot read this WAV file ({exc})") from None
    try:
        recognizer = question_recognizer()
    except RecognizerUnavailable as exc:
        raise HeardNothing(f"Cannot listen: {exc}") from None
    recognizer.set_phrases(None)
    recognizer.ready()
    return _spoken(decode(recognizer, pcm))


def listen_for_question(seconds: float = 15.0) -> SpokenQuestion:
    """One spoken question from the microphone (free speech); an empty one with the reason on stderr."""
    try:
        recognizer = question_recognizer()
        microphone = devices.open_microphone()
    except (RecognizerUnavailable, MicrophoneUnavailable) as exc:
        print(f"Cannot listen: {exc}", file=sys.stderr)
        return SpokenQuestion("")
    segmenter = Segmenter(recognizer, load_vocabulary().meaning)
    segmenter.use_phrases(None)  # free speech, with the longer hangover people need mid-sentence
    print("Listening: ask your question.", file=sys.stderr)
    try:
        for utterance in devices.utterances(microphone, segmenter, seconds):
            if utterance.recognition.text:
                print(f"Heard: {utterance.recognition.text}", file=sys.stderr)
                return _spoken(utterance.recognition)
    finally:
        microphone.close()
    print("I did not hear a question.", file=sys.stderr)
    return SpokenQuestion("")


def speak(text: str) -> None:
    """Speak ``text`` and wait for it; if speech is unavailable, say why once (on stderr)."""
    speaker, problem = devices.open_speaker()
    if speaker is None:
        print(problem, file=sys.stderr)
        return
    try:
        speaker.write({"kind": "say", "text": text})
    finally:
        speaker.close()
