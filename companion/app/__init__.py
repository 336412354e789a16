"""Adapters around the engine: the session loop, the home menu, the devices, and what is printed and logged.

``runner`` is the one loop that feeds the engine; ``session`` and ``home_wiring`` start
sessions and the menu on this machine; ``devices`` is the one place that opens the
speaker, microphone and keyboard.
"""
