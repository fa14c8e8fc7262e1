"""Readers and parsers: plain functions over plain data (no database, no Prefect)."""
