"""Words to meaning: normalising, command matching, dialogue-state grammars, the confidence policy, the menu.

Everything a person says or types comes through :mod:`companion.language.interpret`
before it reaches the engine.
"""
