"""Audio plumbing: the microphone, voice activity and endpointing, the segmenter, echo cancellation, WAV files."""
