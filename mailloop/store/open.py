"""Choose the store implementation from the settings."""

from __future__ import annotations

from mailloop.config import Settings
from mailloop.store.base import Repository
from mailloop.store.tinydb import TinyStore


def open_store(settings: Settings) -> Repository:
    if settings.store.kind == "postgres":
        from mailloop.store.postgres import PostgresStore

        assert settings.store.dsn is not None  # the settings refuse postgres without a dsn
        return PostgresStore(settings.store.dsn.get_secret_value())
    return TinyStore(settings.store_path, segment_size=settings.store.segment_size)
