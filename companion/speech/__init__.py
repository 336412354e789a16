"""Speech in and out, behind the contracts in :mod:`companion.speech.ports`.

``asr/`` recognisers (and the registry that picks one), ``tts/`` the speaker,
``audio/`` the microphone, endpointing, echo cancellation and WAV files,
``listener`` the listening thread, ``models`` the model registry and downloads.
"""
