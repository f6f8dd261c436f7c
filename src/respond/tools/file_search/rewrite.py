"""`rewrite_query` of a vector-store search: a natural-language question made into search terms.

The hosted API rewrites with a model; Respond does it deterministically, so the same query always
searches the same way and costs nothing: the query's words (letters, digits, `_`, `-`, `.` and `'`
inside a word) are kept in their order, lower-cased, without the English function words and
question phrasing (`what is`, `please`, `could you tell me`) that match every chunk on the
full-text side and blur the embedding, and without repeats.  A query made only of such words is
kept as it was.  The page's `search_query` shows what was searched.
"""

from __future__ import annotations

import re

WORD = re.compile(r"[\w][\w'.\-]*[\w]|[\w]")

# Function words and request phrasing; content words (nouns, verbs, numbers) are never dropped.
STOP = frozenset("""
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i i'd i'm if in into is it it's its itself just know let like me
might more most much must my myself need no nor not now of off on once only or other our ours ourselves
out over own please same shall she should show so some such tell than that the their theirs them
themselves then there these they this those through to too under until up very want was we were what
when where which while who whom why will with would you your yours yourself yourselves find give get
""".split())


def rewrite(query: str) -> str:
    """The search terms of `query` (see the module docstring)."""
    seen: dict[str, None] = {}
    for match in WORD.finditer(query.lower()):
        word = match.group(0).strip(".'-")
        if word and word not in STOP:
            seen.setdefault(word)
    return " ".join(seen) or query
