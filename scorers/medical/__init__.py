"""The medical normaliser: surface forms, abbreviations, HPO synonyms, negation, laterality, polarity.

Import from `scorers.medical.normalise` (the public API): `normalise`, `analyse`, `Analysis`,
`clinical_conflict`, `expand_in_context`. `warm()` builds the vocabularies ahead of use (about
1 s; call it at service start-up so that the first request does not pay for it).
"""

from scorers.medical.normalise import Analysis, analyse, clinical_conflict, expand_in_context, normalise
from scorers.medical.vocabulary import HPO_CREDIT, warm

__all__ = ["HPO_CREDIT", "Analysis", "analyse", "clinical_conflict", "expand_in_context", "normalise", "warm"]
