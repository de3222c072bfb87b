"""Tests of model builders."""
