"""Questions aloud: the back-care knowledge base, red-flag detection, and offline answering.

``redflags.detect(text)`` is the one red-flag check shared by every input, ``symptoms`` its sibling
for symptoms said during a session (the same phrase machinery and data style);
``retrieval.ask(question)`` answers from ``content/data/<lang>/knowledge/*.yaml``; ``base.check_knowledge()``
validates it all for ``companion check`` (the verb itself is ``companion/cli/ask.py``).
"""
