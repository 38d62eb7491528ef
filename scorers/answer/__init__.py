"""The ``answer`` reward, one module per answer kind.

`scorers.answer.reward` registers the reward and picks the kind; ``closed`` (yes/no), ``open``
(free text, by the clinical comparison), ``mcq``, ``ordinal`` and ``numeric`` judge one answer
each; `scorers.answer.verdict` is what they return.
"""

from scorers.answer.reward import AnswerParams, answer_reward, infer_kind, score_item

__all__ = ["AnswerParams", "answer_reward", "infer_kind", "score_item"]
