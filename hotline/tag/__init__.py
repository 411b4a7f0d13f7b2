"""The call tagger: caller's words in, legal area, service requested and flags out (see README.md here)."""

from hotline.tag.jsonl import tag_main
from hotline.tag.service import Match, Tags, normalize, tag
from hotline.tag.taxonomy import FLAGS, LEGAL_AREAS, SERVICES, Taxonomy, TaxonomyError, load_taxonomy, parse_taxonomy

__all__ = [
    "FLAGS",
    "LEGAL_AREAS",
    "SERVICES",
    "Match",
    "Tags",
    "Taxonomy",
    "TaxonomyError",
    "load_taxonomy",
    "normalize",
    "parse_taxonomy",
    "tag",
    "tag_main",
]
