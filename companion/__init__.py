"""companion: an offline, voice-guided exercise and posture companion for neck and low-back pain.

The rooms, and the rule that keeps them apart (tests/test_architecture.py checks it):

    cli -> app -> care -> knowledge -> language -> speech -> engine -> content

Each may import only from itself and the rooms to its right.
"""

__version__ = "0.1.0"
