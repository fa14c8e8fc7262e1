"""Retention rules as plain functions over plain data (no database, no Prefect)."""
