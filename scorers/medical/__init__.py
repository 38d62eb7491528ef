"""The medical normaliser and clinical comparison: surface forms, abbreviations, HPO synonyms and
concepts, negation, laterality, polarity and the other modifiers.

Import from `scorers.medical.normalise` (`normalise`, `analyse`, `Analysis`, `clinical_conflict`,
`expand_in_context`) and `scorers.medical.compare` (`compare_texts`). `warm()` builds the
vocabularies and the HPO concept indexes ahead of use (a few seconds; call it at service
start-up so that the first request does not pay for it).
"""

from scorers.medical.concepts import concept_index, mention_index
from scorers.medical.normalise import Analysis, analyse, clinical_conflict, expand_in_context, normalise
from scorers.medical.spelling import warm as _warm_spelling
from scorers.medical.vocabulary import HPO_CREDIT
from scorers.medical.vocabulary import warm as _warm_vocabularies


def warm() -> None:
    """Build every vocabulary and index now (abbreviations, HPO synonyms, concepts, mentions,
    the spelling word lists)."""
    _warm_vocabularies()
    _warm_spelling()
    concept_index()
    mention_index()


__all__ = ["HPO_CREDIT", "Analysis", "analyse", "clinical_conflict", "expand_in_context", "normalise", "warm"]
