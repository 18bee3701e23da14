"""Outbound transports behind one small protocol."""

from mailloop.delivery.base import Delivery, Envelope

__all__ = ["Delivery", "Envelope"]
