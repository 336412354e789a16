"""Questions aloud: the back-care knowledge base, red-flag detection, and offline answering.

``redflags.detect(text)`` is the one red-flag check shared by every input;
``retrieval.ask(question)`` answers from ``content/knowledge/*.yaml``; ``base.check_knowledge()``
validates it all for ``companion check``; ``ask_cli.add_ask_parser(sub)`` adds ``companion ask``.
"""
