"""Fuzzy search of ICD-10-CM descriptions by word overlap, tolerant of typos.

Plain string ratios reward the wrong things on disease names ("urothelial carcinoma" scores 100
against "Malignant neoplasm, unspecified" with a token-set ratio). Here each text is a set of
stems (`condition_names.bag_key`); a description scores the F2 measure of its stems against the
query's (query words found weigh 4x more than extra words in the description), where two stems
match when equal; a query word ICD-10-CM never uses is spelling-corrected to the closest words it
does use (rapidfuzz similarity >= 0.85: "scelrosis" -> "sclerosis"), scored by that similarity.
"""
from __future__ import annotations

import collections

from rapidfuzz import fuzz, process

TOKEN_SIMILARITY = 0.85
BETA2 = 4.0  # F-beta with beta = 2: recall of the query's words matters most
SHORTLIST = 300


class DescriptionMatcher:
    def __init__(self, bags: list[str], codes: list[str]):
        """`bags[i]` (space-separated stems) describes `codes[i]`."""
        self.codes = codes
        self.tokens = [tuple(b.split()) for b in bags]
        postings: dict[str, list[int]] = collections.defaultdict(list)
        for i, toks in enumerate(self.tokens):
            for t in toks:
                postings[t].append(i)
        self.postings = dict(postings)
        self.vocabulary = list(self.postings)

    def _similar_tokens(self, token: str) -> dict[str, float]:
        """The token itself when ICD-10-CM uses it, else its spelling correction(s)."""
        if token in self.postings:
            return {token: 1.0}
        if len(token) < 5:
            return {}
        found = process.extract(token, self.vocabulary, scorer=fuzz.ratio, limit=3,
                                score_cutoff=TOKEN_SIMILARITY * 100)
        return {other: score / 100 for other, score, _ in found}

    def search(self, bag: str, limit: int) -> list[tuple[str, float]]:
        """(code, score 0-1) of the best descriptions, best first; one entry per code."""
        query = tuple(dict.fromkeys(bag.split()))
        if not query:
            return []
        similar = [self._similar_tokens(t) for t in query]
        hits: collections.Counter = collections.Counter()
        for alternatives in similar:
            seen: set[int] = set()
            for token in alternatives:
                seen.update(self.postings[token])
            hits.update(seen)
        if not hits:
            return []
        shortlist = sorted(hits, key=lambda i: (-hits[i], len(self.tokens[i]), self.codes[i]))[:SHORTLIST]
        best: dict[str, float] = {}
        for i in shortlist:
            score = self._score(similar, self.tokens[i])
            code = self.codes[i]
            if score > best.get(code, 0.0):
                best[code] = score
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], len(kv[0]), kv[0]))
        return ranked[:limit]

    @staticmethod
    def _score(similar: list[dict[str, float]], tokens: tuple[str, ...]) -> float:
        token_set = set(tokens)
        matched_choice: set[str] = set()
        recall = 0.0
        for alternatives in similar:
            best_token, best = None, 0.0
            for token, sim in alternatives.items():
                if token in token_set and sim > best:
                    best_token, best = token, sim
            recall += best
            if best_token is not None:
                matched_choice.add(best_token)
        recall /= len(similar)
        precision = len(matched_choice) / len(token_set) if token_set else 0.0
        if recall == 0 or precision == 0:
            return 0.0
        return (1 + BETA2) * precision * recall / (BETA2 * precision + recall)
