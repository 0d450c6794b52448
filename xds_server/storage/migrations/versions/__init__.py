"""Alembic revisions, named ``YYYYMMDD_<rev>_<slug>.py``; each one is reviewed against tables.py."""
