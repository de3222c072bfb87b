"""Typed parameter schemas (pydantic), one per stage block; project.py validates the tree."""
