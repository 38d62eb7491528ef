"""The medical normaliser: surface forms, abbreviations, HPO synonyms, negation, laterality, polarity.

Import from `scorers.medical.normalise` (the public API): `normalise`, `analyse`, `Analysis`,
`clinical_conflict`. `scorers.medical.vocabulary.warm` builds the vocabularies ahead of use.
"""

from scorers.medical.normalise import Analysis, analyse, clinical_conflict, normalise
from scorers.medical.vocabulary import HPO_CREDIT, warm

__all__ = ["HPO_CREDIT", "Analysis", "analyse", "clinical_conflict", "normalise", "warm"]
