"""Speech out: the pyttsx3 speaker with its player thread, and the output that speaks session records."""
