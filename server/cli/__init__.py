"""The `spantally` command. The analytics, llm and prices commands talk to the server through
the public Python client (`spantally.client`); up, migrate, db, projects, keys and reprice
work on the database through the store."""

from .main import main

__all__ = ["main"]
