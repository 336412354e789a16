"""Speech out: the synthesisers (flite, espeak-ng through pyttsx3), the speaker with its player thread,
and the output that speaks session records."""
