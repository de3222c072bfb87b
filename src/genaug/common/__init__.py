"""Helpers shared by every pipeline: devices, seeds, image bundles, parameter checks."""
