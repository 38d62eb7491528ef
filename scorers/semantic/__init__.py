"""The ``semantic`` reward: meaning agreement of a free-text answer with its reference.

Importing this package registers the reward; it does not load the model. The service loads it
once at start-up, in its lifespan, and reports it at ``/readyz``:

```python
from scorers.semantic import embedder_status, load_default_embedder

load_default_embedder()   # idempotent, process-wide; raises EmbedderUnavailableError naming what to install
embedder_status()         # {"backend", "model", "loaded", "load_seconds", "dims"}
```

``MEDREWARD_EMBEDDING_BACKEND`` picks ``onnx`` (default: int8 ONNX MiniLM, no torch) or ``torch``
(sentence-transformers). In-process users who skip the loader get the model on first use.
Parts: `embedder` (backends, cache), `combine` (clinical checks + calibration), `contrast`
(exclusive organ/sequence/modality terms), `judge` (OpenAI-compatible LLM judge), `lexical`
(rapidfuzz), `reward` (the registered function).
"""

from scorers.semantic.embedder import Embedder, EmbedderUnavailableError
from scorers.semantic.loader import embedder_status, load_default_embedder
from scorers.semantic.reward import SemanticParams, semantic_reward

__all__ = [
    "Embedder",
    "EmbedderUnavailableError",
    "SemanticParams",
    "embedder_status",
    "load_default_embedder",
    "semantic_reward",
]
