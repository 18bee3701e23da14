"""Imported once by the forkserver that starts the daemon's child processes (the
workers, the sender): what they all need is loaded there, before they are forked,
so its pages are shared between them.

The collector is then told to leave those objects alone (gc.freeze): a collection
in a child would otherwise write to every page of them, and each child would end up
with a private copy.
"""

import gc

import mailloop.delivery.process
import mailloop.delivery.smtp
import mailloop.workers  # noqa: F401

gc.collect()
gc.freeze()
