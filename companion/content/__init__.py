"""Data and its checking: the routine schema, YAML with file:line problems, the library, and the words of each language.

The lowest room: it imports nothing else from companion. ``data/<lang>/`` holds every
word the companion says or listens for; ``locale`` says which language is in use.
"""
