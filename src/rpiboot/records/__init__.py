"""Provisioning records: one per board and operation, kept in SQLite or PostgreSQL.

:mod:`~rpiboot.records.model` is the record, :mod:`~rpiboot.records.store` opens a store
from a URL, :mod:`~rpiboot.records.recorder` turns the engine's events into records and
:mod:`~rpiboot.records.hooks` runs the user's commands when a board is done.
"""
