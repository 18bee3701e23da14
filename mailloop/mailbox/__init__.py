"""Inbound transports behind one small protocol."""

from mailloop.mailbox.base import Fetched, FetchResult, Mailbox

__all__ = ["FetchResult", "Fetched", "Mailbox"]
