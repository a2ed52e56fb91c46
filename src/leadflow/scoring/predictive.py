"""The arithmetic of conversion models, over plain arrays: fitting gradient-boosted trees with calibration
and a held-out evaluation, predicting, and each prediction's factors (the trees' per-feature contributions, summed
by topic). No database here; `services.train_model` and `services.predict_leads` feed it."""

from dataclasses import dataclass

import lightgbm
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import train_test_split

SEED = 7
HOLDOUT = 0.2  # of the known outcomes, kept out of training to measure the model
CALIBRATION = 0.25  # of the rest, kept out of the trees to calibrate them (and to stop boosting in time)
PARAMETERS = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 15,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 5.0,
    "cat_smooth": 20.0,
    "max_cat_to_onehot": 8,
    "verbose": -1,
    "seed": SEED,
    "num_threads": 1,  # two spin-waiting threads on a busy 2-core machine fit 3-4x slower than one (1 s more when idle)
}
MAX_ROUNDS = 2000
FACTOR_FLOOR = 0.02  # contributions (in log-odds) smaller than this explain nothing


@dataclass
class Fitted:
    booster: lightgbm.Booster
    raw: list[float]  # the calibration map: tree scores …
    probability: list[float]  # … and the probabilities they stand for
    roc_auc: float
    brier: float
    baseline_brier: float
    calibration: list[list[float]]
    importance: dict[str, float]  # feature → share of the trees' gain
    training_size: int
    holdout_size: int


def fit(features: np.ndarray, labels: np.ndarray, names: list[str], categorical: list[str]) -> Fitted:
    """Trees on most of the known outcomes, calibrated on a part they did not see, measured on a held-out part
    neither step saw (stratified, seeded splits)."""
    rest_x, hold_x, rest_y, hold_y = train_test_split(
        features, labels, test_size=HOLDOUT, stratify=labels, random_state=SEED
    )
    tree_x, calib_x, tree_y, calib_y = train_test_split(
        rest_x, rest_y, test_size=CALIBRATION, stratify=rest_y, random_state=SEED
    )
    coded = [names.index(name) for name in categorical]  # LightGBM's own names are Column_0…: ours have colons
    training = lightgbm.Dataset(tree_x, tree_y, categorical_feature=coded, free_raw_data=True)
    stopping = lightgbm.Dataset(calib_x, calib_y, reference=training)
    # A leaf needs 80 leads on a big history, fewer on a small one (else no split is possible at all).
    leaf = max(5, min(80, len(tree_y) // 100))
    booster = lightgbm.train(
        {**PARAMETERS, "min_data_in_leaf": leaf, "min_data_per_group": leaf},
        training,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[stopping],
        callbacks=[lightgbm.early_stopping(100, verbose=False)],
    )
    raw, probability = calibration_map(_raw(booster, calib_x), calib_y)
    predicted = calibrated(_raw(booster, hold_x), raw, probability)
    rate = float(np.mean(rest_y))
    gains = booster.feature_importance(importance_type="gain")
    total_gain = float(gains.sum()) or 1.0
    return Fitted(
        booster=booster,
        raw=raw,
        probability=probability,
        roc_auc=float(roc_auc_score(hold_y, predicted)),
        brier=float(brier_score_loss(hold_y, predicted)),
        baseline_brier=float(brier_score_loss(hold_y, np.full(len(hold_y), rate))),
        calibration=calibration_bins(predicted, hold_y),
        importance={name: float(gain) / total_gain for name, gain in zip(names, gains, strict=True)},
        training_size=len(rest_y),
        holdout_size=len(hold_y),
    )


def calibration_map(scores: np.ndarray, labels: np.ndarray) -> tuple[list[float], list[float]]:
    """Points (tree score, probability) to interpolate between: a logistic curve (Platt scaling) kept as points on a
    fine grid. It keeps the trees' order, where isotonic steps give whole groups of leads one probability: on the
    100k world's train leads (3 seeds, valid leads as the measure) isotonic lost 0.001 of AUC and gained no Brier."""
    platt = LogisticRegression().fit(scores.reshape(-1, 1), labels)
    grid = np.linspace(scores.min() - 1.0, scores.max() + 1.0, 200)
    return grid.tolist(), platt.predict_proba(grid.reshape(-1, 1))[:, 1].tolist()


def calibrated(raw_scores: np.ndarray, raw: list[float], probability: list[float]) -> np.ndarray:
    """Tree scores as calibrated probabilities (the calibration map, linear between its points)."""
    return np.interp(raw_scores, raw, probability)


def calibration_bins(predicted: np.ndarray, labels: np.ndarray, bins: int = 10) -> list[list[float]]:
    """[mean predicted, observed rate, count] for equal-sized groups of leads ordered by prediction."""
    order = np.argsort(predicted, kind="stable")
    result = []
    for part in np.array_split(order, bins):
        if len(part):
            result.append([float(predicted[part].mean()), float(labels[part].mean()), len(part)])
    return result


def load(model_text: str) -> lightgbm.Booster:
    """A stored model's trees, ready to predict."""
    return lightgbm.Booster(model_str=model_text)


def predict(booster: lightgbm.Booster, features: np.ndarray, raw: list[float], probability: list[float]) -> np.ndarray:
    return calibrated(_raw(booster, features), raw, probability)


def _raw(booster: lightgbm.Booster, features: np.ndarray) -> np.ndarray:
    """The trees' scores (log-odds, before calibration)."""
    return np.asarray(booster.predict(features, raw_score=True))


def contributions(booster: lightgbm.Booster, features: np.ndarray, topics: list[str]) -> tuple[list[str], np.ndarray]:
    """Each lead's contribution per topic (log-odds the trees add for it; the expected value left out)."""
    per_feature = np.asarray(booster.predict(features, pred_contrib=True))[:, :-1]
    names = sorted(set(topics))
    index = {topic: place for place, topic in enumerate(names)}
    mapping = np.zeros((len(topics), len(names)))
    for column, topic in enumerate(topics):
        mapping[column, index[topic]] = 1.0
    return names, per_feature @ mapping


def strongest(row: np.ndarray, topics: list[str], *, each_way: int = 3) -> list[tuple[str, float]]:
    """The topics that pushed one lead's prediction up most, then those that pulled it down most."""
    order = np.argsort(row)
    up = [(topics[i], float(row[i])) for i in order[::-1][:each_way] if row[i] >= FACTOR_FLOOR]
    down = [(topics[i], float(row[i])) for i in order[:each_way] if row[i] <= -FACTOR_FLOOR]
    return up + down
