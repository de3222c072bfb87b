"""Tests of the parameter schemas (genaug.schemas), one module per schema module."""
