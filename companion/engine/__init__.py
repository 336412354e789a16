"""The routine engine: a pure state machine, typed events in, typed cues out, no clock, audio or files.

``plan`` turns routines into steps, ``session`` walks them, ``pain`` holds the
McKenzie pain rules, ``clock`` the real and virtual clocks its callers wait on.
"""
