"""Bootstrap resamples of the test rows, scored from counts of (score, label) cells rather than row by row: the
spread of every metric, and the paired difference in ROC-AUC between two models on the same resamples."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from evaluation_metrics import DEFAULT_THRESHOLD, rates

# Bootstrap resamples are scored a block at a time: resamples x test rows, at most this many counts.
BOOTSTRAP_BLOCK_CELLS = 2**22


class ScoreCells:
    """The test rows in cells of (distinct score, label), scores descending. Every metric of scalar_metrics
    depends only on how many rows of each cell a resample draws, so a resample is a row of cell counts."""

    def __init__(self, y: np.ndarray, probability: np.ndarray) -> None:
        if not np.isfinite(probability).all():
            raise ValueError("the model predicted a probability that is not a finite number")
        ascending, position = np.unique(probability, return_inverse=True)
        self.scores = ascending[::-1].astype(np.float64)
        self.cell_of_row = y.astype(np.intp) * len(ascending) + (len(ascending) - 1 - position)
        clipped = np.clip(self.scores, 1e-15, 1 - 1e-15)
        self.loss = np.stack([-np.log(1 - clipped), -np.log(clipped)])  # per cell: label 0, then label 1
        self.squared_error = np.stack([self.scores**2, (1 - self.scores) ** 2])

    def counts(self, resamples: list[np.ndarray]) -> np.ndarray:
        """(resamples, label 0 then 1, scores): how often each resample drew each cell."""
        cells = len(self.scores) * 2
        drawn = [np.bincount(self.cell_of_row[rows], minlength=cells) for rows in resamples]
        return np.stack(drawn).reshape(len(resamples), 2, len(self.scores))


def resample_blocks(y: np.ndarray, samples: int, seed: int) -> Iterator[list[np.ndarray]]:
    """The rows of each bootstrap resample (drawn with replacement), a block of resamples at a time so that the
    counts of a large test split stay within memory. A resample with one class only is left out, and so is a
    block left empty by that."""
    rng = np.random.default_rng(seed)
    block = max(1, BOOTSTRAP_BLOCK_CELLS // (2 * len(y)))
    for start in range(0, samples, block):
        draws = (rng.integers(0, len(y), len(y)) for _ in range(start, min(start + block, samples)))
        kept = [rows for rows in draws if 0 < y[rows].sum() < len(rows)]
        if kept:
            yield kept


def curve_areas(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUC and average precision of each resample, equal to sklearn's on the resampled rows. The true and
    false positives at or above each distinct score are whole numbers; so is the area under the ROC curve's
    steps (each score's negatives times the positives above it, half of its own) until its one division."""
    negatives, positives = counts[:, 0], counts[:, 1]
    tps, fps = np.cumsum(positives, axis=1), np.cumsum(negatives, axis=1)
    auc = np.sum(negatives * (2 * tps - positives), axis=1) / (2 * tps[:, -1] * fps[:, -1])
    precision = tps / np.maximum(tps + fps, 1)  # where nothing is predicted positive, no positive is either
    return auc, np.sum(positives * precision, axis=1) / tps[:, -1]


def resampled_metrics(cells: ScoreCells, counts: np.ndarray) -> dict[str, np.ndarray]:
    """scalar_metrics of each resample, from its cell counts. (sklearn on each resample's rows, mostly its
    input checks, took 2.5 s per model for 1,000 resamples of the sample's 4,900 test rows; this, 0.3 s.)"""
    auc, average_precision = curve_areas(counts)
    rows = counts.sum(axis=(1, 2))
    # The default threshold predicts positive for a prefix of the descending scores.
    above = int(np.sum(cells.scores >= DEFAULT_THRESHOLD))
    tp, fp = counts[:, 1, :above].sum(axis=1), counts[:, 0, :above].sum(axis=1)
    fn, tn = counts[:, 1, above:].sum(axis=1), counts[:, 0, above:].sum(axis=1)
    per_resample = [rates(*map(float, cell)) for cell in zip(tp, fp, fn, tn, strict=True)]
    return {
        "auc": auc,
        "pr_auc": average_precision,
        "log_loss": np.sum(counts * cells.loss, axis=(1, 2)) / rows,
        "brier_score": np.sum(counts * cells.squared_error, axis=(1, 2)) / rows,
        **{name: np.array([values[name] for values in per_resample]) for name in rates(0, 0, 0, 0)},
    }


def bootstrap(y: np.ndarray, probability: np.ndarray, samples: int, seed: int) -> dict[str, np.ndarray]:
    """Each metric on `samples` resamples of the test rows (a resample with one class only is skipped)."""
    cells = ScoreCells(y, probability)
    blocks = [resampled_metrics(cells, cells.counts(block)) for block in resample_blocks(y, samples, seed)]
    return {name: np.concatenate([block[name] for block in blocks]) for name in blocks[0]} if blocks else {}


def paired_auc_differences(
    y: np.ndarray, challenger: np.ndarray, champion: np.ndarray, samples: int, seed: int
) -> np.ndarray:
    """ROC-AUC of the challenger minus the champion's on the same resamples of the test rows: the pairing
    removes the noise both share (the same hard rows), so the interval is much narrower than two separate ones."""
    first, second = ScoreCells(y, challenger), ScoreCells(y, champion)
    differences = [
        curve_areas(first.counts(block))[0] - curve_areas(second.counts(block))[0]
        for block in resample_blocks(y, samples, seed)
    ]
    return np.concatenate(differences) if differences else np.array([])
