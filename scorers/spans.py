"""Finding the tagged parts of a completion: the ``<answer>`` span, the ``<think>`` span.

Shared by every reward that reads an answer (answer, iou, semantic, recitation), so that
they all agree on what "the answer" of a completion is. Plain ``str.find`` scanning, no
regex over the whole text: linear in the completion length whatever it contains.
"""

from __future__ import annotations

import re
from typing import Literal

AnswerSource = Literal["tag", "phrase", "last_line"]

# "The answer is X" / "Final answer: X", looked for only in the tail of the text (bounded),
# the way MedEvalKit's parse_response keeps what follows its answer markers.
_ANSWER_PHRASE = re.compile(r"(?i)\b(?:final\s+)?answer\s*(?:is\s*:?|:)\s*([^\n]{1,300})")
_PHRASE_WINDOW = 600


def tag_spans(text: str, open_tag: str, close_tag: str) -> list[tuple[int, int]]:
    """Start and end offsets of the content of each complete ``open_tag … close_tag`` pair.

    Pairs are taken left to right; an opening tag with no closing tag after it is ignored.

    >>> tag_spans("<a>x</a> <a>yz</a>", "<a>", "</a>")
    [(3, 4), (12, 14)]
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    while True:
        start = text.find(open_tag, pos)
        if start < 0:
            return spans
        content = start + len(open_tag)
        end = text.find(close_tag, content)
        if end < 0:
            return spans
        spans.append((content, end))
        pos = end + len(close_tag)


def last_tag_content(text: str, open_tag: str = "<answer>", close_tag: str = "</answer>") -> str | None:
    """The content of the last complete tag pair, stripped, or None if there is none.

    >>> last_tag_content("<answer>A</answer> then <answer> B </answer>")
    'B'
    >>> last_tag_content("no tags") is None
    True
    """
    end = text.rfind(close_tag)
    if end < 0:
        return None
    start = text.rfind(open_tag, 0, end)
    if start < 0:
        return None
    return text[start + len(open_tag) : end].strip()


def extract_answer(
    text: str,
    *,
    open_tag: str = "<answer>",
    close_tag: str = "</answer>",
    fallback: bool = False,
) -> tuple[str | None, AnswerSource | None]:
    """The final answer of a completion and where it was found.

    The last ``<answer>`` span wins. With ``fallback``, a completion without one is read
    as "the answer is X" / "Answer: X" near its end, else its last non-empty line.

    >>> extract_answer("<think>hmm</think><answer>Yes</answer>")
    ('Yes', 'tag')
    >>> extract_answer("I think the answer is: pneumothorax.", fallback=True)
    ('pneumothorax.', 'phrase')
    >>> extract_answer("reasoning\\n\\nEffusion\\n", fallback=True)
    ('Effusion', 'last_line')
    >>> extract_answer("no tags here")
    (None, None)
    """
    tagged = last_tag_content(text, open_tag, close_tag)
    if tagged is not None:
        return tagged, "tag"
    if not fallback:
        return None, None
    tail = text[-_PHRASE_WINDOW:]
    phrases = _ANSWER_PHRASE.findall(tail)
    if phrases:
        return phrases[-1].strip(), "phrase"
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip(), "last_line"
    return None, None


def think_content(
    text: str, open_tag: str = "<think>", close_tag: str = "</think>", *, prefixed: bool = False
) -> str | None:
    """The reasoning text: the first ``<think>`` span, or None if there is none.

    With ``prefixed`` (the chat template already opened ``<think>`` in the prompt), the
    completion starts inside the reasoning, so everything before the first closing tag is it.

    >>> think_content("<think> look at the apex </think><answer>x</answer>")
    'look at the apex'
    >>> think_content("look at the apex</think><answer>x</answer>", prefixed=True)
    'look at the apex'
    """
    if prefixed:
        end = text.find(close_tag)
        return None if end < 0 else text[:end].strip()
    spans = tag_spans(text, open_tag, close_tag)
    if not spans:
        return None
    start, end = spans[0]
    return text[start:end].strip()
