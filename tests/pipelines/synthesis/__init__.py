"""Tests of the synthesis pipeline."""
