"""Tests of cine2lge.preprocess."""
