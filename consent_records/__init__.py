"""Consent records: the record model, the store, the audit chain and PDF rendering.

This package never imports Textual (tests/test_architecture.py enforces it).
"""
