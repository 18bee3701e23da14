"""Suggested topics for the OforAs no rule matches: TF-IDF and NMF, seeded.

The same documents give the same suggestions on every run: the input is sorted by
message key, NMF starts from NNDSVD with a fixed random_state, and ties are broken
by the terms themselves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MAX_SUGGESTIONS = 8
TERMS = 5
MAX_DOCS = 20_000  # the most recent ones beyond this are enough to suggest from


@dataclass
class Suggestion:
    terms: list[str]
    count: int
    message_ids: list[str]


def suggest(docs: Sequence[tuple[str, str, str]], *, max_topics: int = MAX_SUGGESTIONS
            ) -> list[Suggestion]:
    """Cluster (key, message_id, text) triples into suggested topics, largest first."""
    if len(docs) < 2:
        return []
    import numpy as np
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfVectorizer

    ordered = sorted(docs)[-MAX_DOCS:]
    texts = [text for _key, _mid, text in ordered]
    vectorizer = TfidfVectorizer(stop_words="english", ngram_range=(1, 2), min_df=2,
                                 max_df=0.9, max_features=5000, sublinear_tf=True,
                                 token_pattern=r"(?u)\b[^\W\d_][^\W\d_]+\b")
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # nothing left after stop words and min_df
        return []
    if matrix.shape[1] < 2:
        return []
    k = max(1, min(max_topics, matrix.shape[1] - 1, round(math.sqrt(len(texts) / 2))))
    model = NMF(n_components=k, init="nndsvd", random_state=0, max_iter=200)
    weights = model.fit_transform(matrix)
    terms = vectorizer.get_feature_names_out()
    assigned = np.argmax(weights, axis=1)
    strength = weights.max(axis=1)
    out: list[Suggestion] = []
    for component in range(k):
        loadings = model.components_[component]
        top = sorted(range(len(terms)), key=lambda t: (-round(float(loadings[t]), 9),
                                                       terms[t]))
        chosen: list[str] = []
        columns: list[int] = []
        for t in top:
            term = str(terms[t])
            if loadings[t] <= 0 or len(chosen) >= TERMS:
                break
            if any(term in c.split() or c in term.split() for c in chosen):
                continue  # "dark" beside "dark mode" adds nothing
            chosen.append(term)
            columns.append(t)
        # A member leans to this component and uses at least one of its key terms.
        uses = np.asarray(matrix[:, columns].sum(axis=1)).ravel() > 0 if columns else None
        members = [i for i in range(len(ordered)) if assigned[i] == component
                   and strength[i] > 0 and uses is not None and uses[i]]
        if len(members) < 2:
            continue
        out.append(Suggestion(chosen, len(members), [ordered[i][1] for i in members]))
    out.sort(key=lambda s: (-s.count, s.terms))
    return out
