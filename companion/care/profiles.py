"""Who is exercising, and how the companion should speak and pace for them.

A profile changes delivery (speech rate, volume, pace, confirmations) and what
is offered (conditions such as the acute phase); it never changes the facts
of an exercise: pace stays within each routine's stated range.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from companion.content.schema import CONDITIONS
from companion.engine.plan import PACE_STEPS as PACES


@dataclass(frozen=True)
class Profile:
    name: str
    speech_rate: int = 160  # words per minute for the speaker
    volume: float = 1.0  # 0.3 .. 1.0
    pace: float = 1.0  # one of PACES; >1 is slower (longer rests and tempo, never beyond a routine's range)
    repeat_cues: int = 0  # how often to repeat a question when there is no answer
    caregiver: bool = False  # a caregiver is present and may answer for the user
    confirm_steps: bool = False  # ask "Ready?" (yes/no) before each step
    conditions: tuple[str, ...] = field(default_factory=tuple)
    voice: str = ""  # an espeak-ng voice such as "en-us" or "en-gb-x-rp"; "" is the default

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["conditions"] = list(self.conditions)
        return data


# Slower, louder, longer rests, every step confirmed, questions repeated once.
CAREGIVER_PRESET = dict(speech_rate=130, volume=1.0, pace=1.5, repeat_cues=1, caregiver=True, confirm_steps=True)


class ProfileError(ValueError):
    """A setting that cannot be used; the message says what is allowed."""


def set_value(profile: Profile, key: str, value: str) -> Profile:
    """``profile set NAME KEY VALUE`` with checking; returns the changed profile."""
    names = {f.name for f in fields(Profile)} - {"name"}
    if key == "preset":
        if value != "caregiver":
            raise ProfileError("the only preset is 'caregiver'")
        return replace(profile, **CAREGIVER_PRESET)
    if key not in names:
        raise ProfileError(f"unknown setting '{key}'; settings: {', '.join(sorted(names | {'preset'}))}")
    try:
        if key == "speech_rate":
            number = int(value)
            if not 80 <= number <= 260:
                raise ProfileError("speech_rate must be between 80 and 260 words a minute")
            return replace(profile, speech_rate=number)
        if key == "volume":
            number = float(value)
            if not 0.3 <= number <= 1.0:
                raise ProfileError("volume must be between 0.3 and 1.0")
            return replace(profile, volume=number)
        if key == "pace":
            number = float(value)
            if number not in PACES:
                raise ProfileError(f"pace must be one of {', '.join(f'{p:g}' for p in PACES)} (bigger is slower)")
            return replace(profile, pace=number)
        if key == "repeat_cues":
            number = int(value)
            if not 0 <= number <= 3:
                raise ProfileError("repeat_cues must be 0, 1, 2 or 3")
            return replace(profile, repeat_cues=number)
    except ValueError as exc:
        if isinstance(exc, ProfileError):
            raise
        raise ProfileError(f"{key} needs a number, not '{value}'") from None
    if key == "voice":
        from companion.speech.tts.speaker import installed_voices

        voices = installed_voices()
        if value not in ("", "default") and voices and value not in voices:
            english = sorted(v for v in voices if v.startswith(("en", "gmw/en")))
            raise ProfileError(f"there is no voice called '{value}'; English voices here: {', '.join(english)}")
        return replace(profile, voice="" if value == "default" else value)
    if key in ("caregiver", "confirm_steps"):
        flag = value.lower()
        if flag not in ("yes", "no", "true", "false", "on", "off"):
            raise ProfileError(f"{key} must be yes or no")
        return replace(profile, **{key: flag in ("yes", "true", "on")})
    # conditions: a comma-separated list, or "none"; each named once, in the order first given
    chosen = tuple(dict.fromkeys(c.strip() for c in value.split(",") if c.strip() and c.strip() != "none"))
    unknown = [c for c in chosen if c not in CONDITIONS]
    if unknown:
        raise ProfileError(f"unknown condition(s) {', '.join(unknown)}; known: {', '.join(CONDITIONS)}")
    return replace(profile, conditions=chosen)
