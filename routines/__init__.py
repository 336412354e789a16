"""The built-in routines and programmes (the YAML files beside this one).

This folder ships inside the wheel as ``companion.routines``, so an installed
companion finds them with :mod:`importlib.resources`; there is no second copy.
"""
