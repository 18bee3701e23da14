"""Read-only views over the store: Smiles per rep, OforA topics, feature requests,
reply outcomes, the newsletter and the digests.

Each view is a pure function over iterables of store documents (docs/store.md),
so it reads each month it needs once, whatever the number of reps or topics.
"""
