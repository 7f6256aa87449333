"""A module that fails on import."""

raise RuntimeError("this module is broken")
