"""Surface normalisation: the spelling-level differences that never change a clinical meaning.

Case, punctuation, articles, plurals, number words, hyphenation and British/American spelling.
Everything here works token by token with a per-token cache, so that a short answer costs a
few dictionary look-ups once its words have been seen.

Sentence punctuation is kept as separate tokens (``.``, ``;``, ``!``, ``?``, newline) because
negation scopes end there (`scorers.medical.negation`); `surface` drops them.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Numbers first so that "1.5" stays one token; then words (letters/digits, with an inner
# apostrophe for "patient's"); then the punctuation that ends a negation scope; then "%".
TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:['’][^\W_]+)?|[.;!?\n,]|%")
# The same tokens for ASCII text (most answers), with ASCII classes, which the regex engine
# matches faster than the Unicode ones.
_ASCII_TOKEN_RE = re.compile(r"[0-9]+(?:[.,][0-9]+)+|[A-Za-z0-9]+(?:'[A-Za-z0-9]+)?|[.;!?\n,]|%")
TERMINATOR_TOKENS = frozenset({".", ";", "!", "?", "\n"})
# A comma does not end a negation scope ("no effusion, consolidation or pneumothorax") but
# the negation scan needs to see it; like the terminators it never reaches normalised text.
SEPARATOR_TOKENS = frozenset({","})
PUNCTUATION_TOKENS = TERMINATOR_TOKENS | SEPARATOR_TOKENS

ARTICLES = frozenset({"a", "an", "the"})

_NUMBER_WORDS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
    "twenty": "20",
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "seventy": "70",
    "eighty": "80",
    "ninety": "90",
    "hundred": "100",
    "first": "1st",
    "second": "2nd",
    "third": "3rd",
    "fourth": "4th",
    "fifth": "5th",
}

# Roman numerals are read as numbers only after a word that introduces a grade or class
# ("grade II", "type IV"), never alone: "I" is a pronoun and "V" a letter elsewhere.
_ROMAN = {r: str(i) for i, r in enumerate(("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"), start=1)}
_ROMAN_CONTEXT = frozenset({"grade", "stage", "type", "class", "level", "phase", "category", "tier"})

# British → American fragments common in radiology reports, applied inside a word so that
# derived forms follow ("haemorrhagic", "oedematous", "tumours"). Fragments chosen so that no
# American word contains them.
_BRITISH_FRAGMENTS: tuple[tuple[str, str], ...] = (
    ("oedem", "edem"),
    ("oesophag", "esophag"),
    ("oestr", "estr"),
    ("haem", "hem"),
    ("aemia", "emia"),
    ("aemic", "emic"),
    ("ischaem", "ischem"),
    ("orthopaed", "orthoped"),
    ("paed", "ped"),
    ("gynaec", "gynec"),
    ("anaes", "anes"),
    ("aetiolog", "etiolog"),
    ("caesar", "cesar"),
    ("coeliac", "celiac"),
    ("foet", "fet"),
    ("pnoea", "pnea"),
    ("diarrhoea", "diarrhea"),
    ("leucocyt", "leukocyt"),
    ("tumour", "tumor"),
    ("colour", "color"),
    ("behaviour", "behavior"),
    ("favour", "favor"),
    ("centre", "center"),
    ("fibre", "fiber"),
    ("litre", "liter"),
    ("metre", "meter"),
    ("sulph", "sulf"),
    ("grey", "gray"),
)
_BRITISH_HINTS = ("ae", "oe", "our", "tre", "sulph", "grey")
# -ise/-isation verbs: a stem list rather than a bare "is" fragment, which would also hit
# "organism" or "characteristic".
_ISE_RE = re.compile(
    r"^(local|visual|character|general|hospital|lateral|vascular|organ|normal|minim|maxim|recogn|categor"
    r"|stabil|immobil|steril|neutral|central|special|capital|mobil|util|optim|emphas|summar)"
    r"is(e|ed|es|ing|ation|ations)$"
)

# Latin/Greek plurals of radiology words; everything else goes through the suffix rules.
_IRREGULAR_PLURALS = {
    "metastases": "metastasis",
    "stenoses": "stenosis",
    "diagnoses": "diagnosis",
    "anastomoses": "anastomosis",
    "thromboses": "thrombosis",
    "prostheses": "prosthesis",
    "calculi": "calculus",
    "bronchi": "bronchus",
    "emboli": "embolus",
    "thrombi": "thrombus",
    "foci": "focus",
    "nuclei": "nucleus",
    "fungi": "fungus",
    "vertebrae": "vertebra",
    "bullae": "bulla",
    "sulci": "sulcus",
    "diverticula": "diverticulum",
    "apices": "apex",
    "cortices": "cortex",
    "indices": "index",
    "vertices": "vertex",
    "appendices": "appendix",
    "lymphomata": "lymphoma",
    "carcinomata": "carcinoma",
    "children": "child",
    "teeth": "tooth",
    "feet": "foot",
}
# Words ending in s that are not plurals.
_NOT_PLURAL = frozenset(
    {
        "yes",
        "was",
        "has",
        "this",
        "his",
        "its",
        "does",
        "always",
        "perhaps",
        "various",
        "diabetes",
        "herpes",
        "series",
        "species",
        "rabies",
        "measles",
        "mumps",
        "scabies",
        "lens",
        "means",
        "news",
        "thus",
        "whereas",
        "across",
        "less",
        "unless",
        "gas",
        "pancreas",
        "atlas",
        "bias",
        "alias",
        "lupus",
        "ascites",
        "caries",
        "pes",
        "genus",
        "versus",
        "vs",
        "sepsis",
        "ms",
        "aids",
    }
)
# Prefixes written with a hyphen, a space or nothing ("non-enhancing", "non enhancing",
# "nonenhancing"): joined to the next word so that the three spellings agree.
# Two-word compounds written with or without a hyphen that are one modifier ("long-standing" is
# chronic, "well-defined" and "ill-defined" are margins).
_COMPOUNDS = frozenset({("x", "ray"), ("long", "standing"), ("well", "defined"), ("ill", "defined")})
_JOIN_PREFIXES = frozenset(
    {"non", "pre", "post", "hyper", "hypo", "sub", "intra", "extra", "peri", "para", "retro", "trans", "inter"}
    | {"supra", "infra", "multi", "iso", "anti", "re", "co", "ill", "well"}
)


# Every token `join_and_filter` acts on: an article, a prefix or a compound's first word, "%",
# and the words that make a Roman numeral after them a number.
_JOIN_STOPS = ARTICLES | _JOIN_PREFIXES | _ROMAN_CONTEXT | {a for a, _ in _COMPOUNDS} | {"%"}


@lru_cache(maxsize=65536)
def normalise_token(token: str) -> str:
    """One lower-cased word in its canonical spelling: American, singular, digits for number words.

    >>> [normalise_token(w) for w in ("tumours", "opacities", "Three", "haemorrhages", "masses")]
    ['tumor', 'opacity', '3', 'hemorrhage', 'mass']
    """
    word = token.lower().replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    word = word.replace("'", "")
    if word in _NUMBER_WORDS:
        return _NUMBER_WORDS[word]
    if any(h in word for h in _BRITISH_HINTS):
        for british, american in _BRITISH_FRAGMENTS:
            if british in word:
                word = word.replace(british, american)
    if "is" in word:
        word = _ISE_RE.sub(r"\1iz\2", word)
    return singular(word)


def singular(word: str) -> str:
    """The singular of a lower-case English or medical word (rule-based; unknown words kept).

    >>> [singular(w) for w in ("nodules", "bronchus", "metastases", "stenosis", "abscesses", "ribs")]
    ['nodule', 'bronchus', 'metastasis', 'stenosis', 'abscess', 'rib']
    """
    if word in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[word]
    if word.endswith("thoraces"):  # pneumothoraces, haemothoraces
        return word[:-3] + "x"
    if len(word) < 4 or not word.endswith("s") or word in _NOT_PLURAL or not word.isalpha():
        return word
    if word.endswith(("ss", "us", "is", "os")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zzes")):
        return word[:-2]
    return word[:-1]


def raw_tokens(text: str) -> list[str]:
    """Words, numbers and scope-ending punctuation of ``text``, case preserved.

    >>> raw_tokens("No T2-weighted signal; 1.5 cm.")
    ['No', 'T2', 'weighted', 'signal', ';', '1.5', 'cm', '.']
    """
    if text.isascii():
        return _ASCII_TOKEN_RE.findall(text)
    # NFKC folds full-width letters, ligatures, non-breaking spaces
    return TOKEN_RE.findall(unicodedata.normalize("NFKC", text))


def join_and_filter(tokens: list[str]) -> list[str]:
    """Drop articles, join hyphen-able prefixes, read roman numerals after "grade"/"type"...

    Takes and returns normalised (lower-case) tokens; terminators pass through untouched.

    >>> join_and_filter(["the", "non", "enhancing", "x", "ray", "grade", "ii"])
    ['nonenhancing', 'xray', 'grade', '2']
    """
    if _JOIN_STOPS.isdisjoint(tokens):
        return tokens  # the usual answer: nothing to drop, join or read (one C-level pass)
    out: list[str] = []
    n = len(tokens)
    i = 0
    while i < n:
        tok = tokens[i]
        i += 1
        if tok in ARTICLES:
            continue
        if i < n:
            nxt = tokens[i]
            if (tok in _JOIN_PREFIXES and nxt.isalpha() and nxt not in ARTICLES) or (tok, nxt) in _COMPOUNDS:
                out.append(tok + nxt)
                i += 1
                continue
        if out and tok in _ROMAN and out[-1] in _ROMAN_CONTEXT:
            tok = _ROMAN[tok]
        out.append("percent" if tok == "%" else tok)
    return out


@lru_cache(maxsize=65536)
def surface(text: str) -> str:
    """Surface-normalised text: lower case, no punctuation or articles, singular, American, digits.

    No abbreviation or synonym work here (that is `scorers.medical.normalise.normalise`).

    >>> surface("The Tumours are haemorrhagic; two X-rays.")
    'tumor are hemorrhagic 2 xray'
    """
    toks = join_and_filter([normalise_token(t) for t in raw_tokens(text)])
    return " ".join(t for t in toks if t not in PUNCTUATION_TOKENS)
