"""Helpers shared by every room: devices, seeds, image bundles, the ParameterError type."""
