"""Speech models: the small ones that ship with companion, and (in a checkout) downloaded ones.

This folder ships inside the wheel as ``companion.models``. Downloaded models
are git-ignored; an installed wheel keeps them in the user's data folder.
"""
