"""``headstart audit``: what is in a corpus before you train on it.

Near and exact duplicates, Gopher quality signals, contamination with evaluation sets (13-gram
overlap), a representational-bias screen for text; content-hash duplicates, sizes or lengths and
class balance for images and audio.  Everything streams: per document only a hash or a MinHash
signature is kept.  ``contamination()`` is also what ``headstart compare`` calls.
"""
from headstart.audit.contamination import contamination

__all__ = ["contamination"]
