"""A learned refusal / harm classifier, kept only as a yardstick for the rules.

TF-IDF word uni- and bigrams with a logistic regression, trained on the *development* half of a labelled
task and scored on the held-out half, plus a grouped k-fold cross-validation over all items (groups are
the split groups, so one prompt's answers never sit in both train and test). The judge does not use it:
``docs/safety-judge.md`` records whether it beat the rules on held-out data. scikit-learn is imported
inside the functions, so the rest of the package does not need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from tianping.safety.calibration import LabelledItem, Prediction

__all__ = ["cross_validated", "train_dev_predict_heldout"]


def _model() -> Any:
    """A fresh scikit-learn pipeline (untrained)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=20_000),
        LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced"),
    )


def _text(item: LabelledItem) -> str:
    # the answer carries the signal; the first 1,500 characters hold any refusal and keep the features local
    return item.response[:1500]


def train_dev_predict_heldout(
    items: Sequence[LabelledItem], partial: Literal["refusal", "compliance"] = "refusal"
) -> list[Prediction]:
    """Fit on the dev items, predict the held-out items (one task at a time)."""
    dev = [i for i in items if i.split == "dev"]
    held = [i for i in items if i.split == "heldout"]
    labels = {i.gold(partial) for i in dev}
    if len(labels) < 2:
        raise ValueError("the development items hold a single class: nothing to learn")
    model = _model().fit([_text(i) for i in dev], [i.gold(partial) for i in dev])
    return [
        Prediction(i.item_id, bool(p), "learned")
        for i, p in zip(held, model.predict([_text(i) for i in held]), strict=True)
    ]


def cross_validated(
    items: Sequence[LabelledItem], folds: int = 5, partial: Literal["refusal", "compliance"] = "refusal"
) -> list[Prediction]:
    """Out-of-fold predictions for every item from a grouped k-fold."""
    from sklearn.model_selection import GroupKFold

    texts = [_text(i) for i in items]
    gold = [i.gold(partial) for i in items]
    groups = [i.group for i in items]
    out: dict[str, Prediction] = {}
    for train, test in GroupKFold(n_splits=folds).split(texts, gold, groups):
        model = _model().fit([texts[k] for k in train], [gold[k] for k in train])
        for k, p in zip(test, model.predict([texts[k] for k in test]), strict=True):
            out[items[k].item_id] = Prediction(items[k].item_id, bool(p), "learned-cv")
    return [out[i.item_id] for i in items]
