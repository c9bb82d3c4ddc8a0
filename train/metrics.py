"""Evaluation metrics of the fine-tuning tasks, in plain numpy.

Every score is a percentage (0-100), as the papers report them.

* Action segmentation (HOI4D): frame accuracy, Edit and F1@{10,25,50} of MS-TCN
  (yabufarha/ms-tcn, `eval.py`), which HOI4D_ActionSeg copies. We follow MS-TCN, not the copy
  (`train_pptr.py` / `train_p4.py`), which differs in three places:

  - its segments end at `i`, the last frame's index, instead of `i + 1`: the last segment is one
    frame short, so a perfect prediction whose last segment is one frame long scores F1 < 100
    (its IoU is 0/0 = NaN, a false positive and a miss);
  - its accuracy is the mean of per-batch accuracies, which weighs a short last batch like a
    full one; ours counts frames over all sequences;
  - it allocates with `np.float`, which NumPy >= 1.24 no longer has.

* Semantic segmentation (Synthia 4D, HOI4D): `ConfusionMatrix` and its per-class IoU, averaged
  under either reference's convention (see `ConfusionMatrix.miou`).

* Clip classification (MSR-Action3D): clip accuracy and P4Transformer's video accuracy, the
  argmax of the softmax probabilities summed over a video's clips.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np

OVERLAPS: tuple[float, ...] = (0.10, 0.25, 0.50)
"""The IoU thresholds of F1@10, F1@25 and F1@50."""


# --- action segmentation ----------------------------------------------------------------------


class Segment(NamedTuple):
    """A maximal run of one label: frames `start` to `stop - 1`."""

    label: int
    start: int
    stop: int


def _frame_labels(labels: Sequence[int] | np.ndarray, name: str) -> np.ndarray:
    """Per-frame labels as a 1-D int64 array; floats are refused (scores passed by mistake)."""
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"{name}: per-frame labels must be 1-D, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name}: labels must be integers, got {array.dtype}")
    return array.astype(np.int64)


def segments(labels: Sequence[int] | np.ndarray) -> list[Segment]:
    """The maximal runs of equal labels, in order (stop exclusive, as MS-TCN's `ends`).

    No label is treated as background: HOI4D's actions are all real classes.
    """
    array = _frame_labels(labels, "labels")
    if array.size == 0:
        return []
    changes = np.flatnonzero(array[1:] != array[:-1]) + 1
    starts = np.concatenate([[0], changes])
    stops = np.concatenate([changes, [array.size]])
    return [Segment(int(array[a]), int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


def levenshtein(a: Sequence[int], b: Sequence[int]) -> int:
    """Edit distance (insertions, deletions, substitutions, each costing 1) between two
    label sequences."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            substitution = previous[j - 1] + (x != y)
            current.append(min(previous[j] + 1, current[j - 1] + 1, substitution))
        previous = current
    return previous[-1]


def edit_score(pred: Sequence[int] | np.ndarray, true: Sequence[int] | np.ndarray) -> float:
    """MS-TCN's Edit score of one sequence: (1 - Levenshtein / max length) * 100 over the two
    sequences of segment labels. It rewards the order of actions and punishes
    over-segmentation, whatever the segments' lengths. Two empty sequences score 100 (MS-TCN
    divides 0 by 0 there)."""
    p = [s.label for s in segments(pred)]
    y = [s.label for s in segments(true)]
    longest = max(len(p), len(y))
    if longest == 0:
        return 100.0
    return (1 - levenshtein(p, y) / longest) * 100


def f1_counts(
    pred: Sequence[int] | np.ndarray, true: Sequence[int] | np.ndarray, overlap: float
) -> tuple[int, int, int]:
    """MS-TCN's (true positives, false positives, misses) of one sequence at one IoU threshold.

    Greedy, in the order of the predicted segments: each takes the true segment of its label
    with the highest IoU (the first on ties); it is a true positive if that IoU reaches
    `overlap` and that true segment was not taken before, else a false positive. True segments
    never taken are misses. As in MS-TCN, the IoU's denominator is the hull of the two
    segments (max stop - min start): the union wherever they overlap, and disjoint segments get
    a negative IoU, below any threshold. `overlap` must lie in (0, 1]: at 0, MS-TCN would let a
    segment of another label (IoU 0) be taken.
    """
    if not 0 < overlap <= 1:
        raise ValueError(f"overlap must lie in (0, 1], got {overlap}")
    truth = segments(true)
    labels = np.array([s.label for s in truth], dtype=np.int64)
    starts = np.array([s.start for s in truth], dtype=np.int64)
    stops = np.array([s.stop for s in truth], dtype=np.int64)
    taken = np.zeros(len(truth), dtype=bool)
    tp = fp = 0
    for label, start, stop in segments(pred):
        intersection = np.minimum(stop, stops) - np.maximum(start, starts)
        hull = np.maximum(stop, stops) - np.minimum(start, starts)
        iou = np.where(labels == label, intersection / hull, -np.inf)
        best = int(np.argmax(iou)) if iou.size else -1
        if best >= 0 and iou[best] >= overlap and not taken[best]:
            tp += 1
            taken[best] = True
        else:
            fp += 1
    return tp, fp, int(np.count_nonzero(~taken))


def f1_from_counts(tp: int, fp: int, fn: int) -> float:
    """F1 = 2PR / (P + R) * 100, computed as MS-TCN does; 0 where P or R is undefined or both
    are 0 (MS-TCN's `nan_to_num`)."""
    if tp == 0:
        return 0.0
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    return 2.0 * precision * recall / (precision + recall) * 100


class ActionSegmentationMeter:
    """Frame accuracy, Edit and F1@k of per-frame action labels, over whole sequences.

    Accuracy counts correct frames over all frames of all sequences; Edit is the mean of the
    per-sequence scores; F1@k sums the counts of all sequences before taking F1, as MS-TCN.

    Frames whose true label is negative are unlabelled: they are dropped from both the
    prediction and the truth before anything is computed, so the runs on either side of a gap
    join when their labels agree. A sequence with no labelled frame is skipped entirely (it
    would otherwise add an Edit of 100).
    """

    def __init__(self, overlaps: Sequence[float] = OVERLAPS) -> None:
        self.overlaps = tuple(overlaps)
        for overlap in self.overlaps:
            if not 0 < overlap <= 1:
                raise ValueError(f"overlaps must lie in (0, 1], got {overlap}")
        self.reset()

    def reset(self) -> None:
        """Forget every sequence seen."""
        self.correct = 0
        self.frames = 0
        self.edits: list[float] = []
        self.counts = np.zeros((len(self.overlaps), 3), dtype=np.int64)

    def update(self, pred: np.ndarray, true: np.ndarray) -> None:
        """Add one sequence: predicted and true labels, both [T]."""
        pred = _frame_labels(pred, "pred")
        true = _frame_labels(true, "true")
        if pred.shape != true.shape:
            raise ValueError(f"pred {pred.shape} and true {true.shape} differ in length")
        labelled = true >= 0
        if not labelled.any():
            return
        pred, true = pred[labelled], true[labelled]
        self.correct += int(np.count_nonzero(pred == true))
        self.frames += true.size
        self.edits.append(edit_score(pred, true))
        for row, overlap in enumerate(self.overlaps):
            self.counts[row] += f1_counts(pred, true, overlap)

    def compute(self) -> dict[str, float]:
        """`accuracy`, `edit` and `f1@10`, `f1@25`, `f1@50` (one per overlap), in percent."""
        if not self.edits:
            raise ValueError("no labelled sequence to evaluate")
        scores = {
            "accuracy": 100.0 * self.correct / self.frames,
            "edit": float(np.mean(self.edits)),
        }
        for overlap, (tp, fp, fn) in zip(self.overlaps, self.counts.tolist(), strict=True):
            scores[f"f1@{round(overlap * 100)}"] = f1_from_counts(tp, fp, fn)
        return scores


def blind_predictions(
    train: Sequence[np.ndarray], lengths: Sequence[int], classes: int
) -> dict[str, list[np.ndarray]]:
    """What a model that reads no points would predict for sequences of `lengths` frames, from
    the per-frame labels of the training sequences (negative: unlabelled):

    - "most frequent": the training split's most frequent label, everywhere;
    - "frame-index prior": at frame t, the most frequent training label at frame t (frames past
      the longest training sequence take its last frame's; ties go to the lower label).

    A model that does not beat the prior has learned when actions happen, not what they look
    like. Raises ValueError when no training frame is labelled.
    """
    longest = max((len(a) for a in train), default=0)
    counts = np.zeros((max(longest, 1), classes), dtype=np.int64)
    for labels in train:
        labels = _frame_labels(labels, "train")
        t = np.flatnonzero(labels >= 0)
        np.add.at(counts, (t, labels[t]), 1)
    if not counts.any():
        raise ValueError("no labelled training frame: no baseline to draw")
    majority = int(counts.sum(axis=0).argmax())
    by_frame = counts.argmax(axis=1)
    by_frame[~counts.any(axis=1)] = majority  # frames no training sequence labels
    return {
        "most frequent": [np.full(n, majority, dtype=np.int64) for n in lengths],
        "frame-index prior": [
            by_frame[np.minimum(np.arange(n), len(by_frame) - 1)] for n in lengths
        ],
    }


# --- semantic segmentation --------------------------------------------------------------------


class ConfusionMatrix:
    """Counts of points by true and predicted class (`matrix[true, pred]`), for IoU and accuracy.

    `ignore` lists true labels whose points are left out, like a void class; they may lie
    outside [0, num_classes) (P4Transformer's Synthia maps void to 12 of 12 classes). Negative
    true labels are always left out. Any other label or prediction outside the classes is an
    error.
    """

    def __init__(self, num_classes: int, ignore: Sequence[int] = ()) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.num_classes = num_classes
        self.ignore = tuple(int(c) for c in ignore)
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def reset(self) -> None:
        """Forget every point seen."""
        self.matrix[:] = 0

    def update(self, pred: np.ndarray, true: np.ndarray) -> None:
        """Add predicted and true labels of the same shape (any shape: points, frames, batch)."""
        pred, true = np.asarray(pred), np.asarray(true)
        if pred.shape != true.shape:
            raise ValueError(f"pred {pred.shape} and true {true.shape} differ in shape")
        for name, array in (("pred", pred), ("true", true)):
            if array.size and not np.issubdtype(array.dtype, np.integer):
                raise ValueError(f"{name}: labels must be integers, got {array.dtype}")
        keep = (true >= 0) & ~np.isin(true, self.ignore)
        pred = pred[keep].astype(np.int64)
        true = true[keep].astype(np.int64)
        n = self.num_classes
        if true.size and (true.max() >= n or pred.min() < 0 or pred.max() >= n):
            raise ValueError(f"labels outside [0, {n}) that are not ignored")
        self.matrix += np.bincount(true * n + pred, minlength=n * n).reshape(n, n)

    def iou(self) -> np.ndarray:
        """Per-class IoU in percent: TP / |pred == c or true == c|; NaN for a class absent from
        both prediction and truth."""
        tp = np.diag(self.matrix).astype(np.float64)
        union = self.matrix.sum(axis=0) + self.matrix.sum(axis=1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, 100.0 * tp / union, np.nan)

    def miou(
        self,
        classes: Sequence[int] | None = None,
        absent: Literal["skip", "zero"] = "skip",
    ) -> float:
        """Mean IoU in percent over `classes` (default: every class not in `ignore`).

        A class is absent when no point of the truth has it. The references differ there:

        - `absent="zero"`: an absent class counts, with IoU 0 (its TP is 0; if nothing
          predicts it either, 0 rather than 0/0). P4Transformer's Synthia: the 12 classes,
          void ignored.
        - `absent="skip"`: absent classes are left out of the mean, even if predicted.
          HOI4D_SemSeg: `classes=range(2, 49)` (it skips ids 0 and 1), whose points still
          count in the other classes' unions; unlike it, we do not drop batches whose loss
          exceeds 20.
        """
        if absent not in ("skip", "zero"):
            raise ValueError(f"absent must be 'skip' or 'zero', got {absent!r}")
        if classes is None:
            classes = [c for c in range(self.num_classes) if c not in self.ignore]
        chosen = np.asarray(classes, dtype=np.int64)
        if chosen.size == 0 or chosen.min() < 0 or chosen.max() >= self.num_classes:
            raise ValueError(f"classes must be a non-empty subset of [0, {self.num_classes})")
        iou = np.nan_to_num(self.iou()[chosen], nan=0.0)
        if absent == "skip":
            iou = iou[self.matrix.sum(axis=1)[chosen] > 0]
            if iou.size == 0:
                raise ValueError("none of the classes occurs in the truth")
        return float(iou.mean())

    def accuracy(self) -> float:
        """Overall point accuracy in percent."""
        total = self.matrix.sum()
        if total == 0:
            raise ValueError("no point to evaluate")
        return 100.0 * float(np.trace(self.matrix)) / float(total)


# --- clip classification ----------------------------------------------------------------------


class ClipClassificationMeter:
    """Clip accuracy and P4Transformer's video accuracy (MSR-Action3D).

    A video's prediction is the argmax (the first on ties) of its clips' softmax probabilities
    summed, as `train-msr.py` does; the sum is kept in float64 where the reference sums float32.
    """

    def __init__(self, num_classes: int) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.num_classes = num_classes
        self.reset()

    def reset(self) -> None:
        """Forget every clip seen."""
        self.clips = 0
        self.correct_clips = 0
        self.video_probability: dict[int, np.ndarray] = {}
        self.video_label: dict[int, int] = {}

    def update(
        self, video_ids: np.ndarray, clip_probabilities: np.ndarray, true_labels: np.ndarray
    ) -> None:
        """Add a batch: video ids [B], softmax probabilities [B, C] and true labels [B].

        Probabilities, not logits: each row must be non-negative and sum to 1 (within 1e-3),
        since summing logits would weigh clips differently.
        """
        ids = np.asarray(video_ids).reshape(-1)
        probabilities = np.asarray(clip_probabilities, dtype=np.float64)
        labels = np.asarray(true_labels).reshape(-1)
        if probabilities.shape != (ids.size, self.num_classes) or labels.size != ids.size:
            raise ValueError(
                f"expected ids [B], probabilities [B, {self.num_classes}], labels [B]; got "
                f"{ids.shape}, {probabilities.shape}, {labels.shape}"
            )
        if (probabilities < 0).any() or not np.allclose(probabilities.sum(axis=1), 1, atol=1e-3):
            raise ValueError("clip_probabilities must be softmax probabilities, not logits")
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"true labels outside [0, {self.num_classes})")
        self.clips += ids.size
        self.correct_clips += int(np.count_nonzero(probabilities.argmax(axis=1) == labels))
        for video, probability, label in zip(
            ids.tolist(), probabilities, labels.tolist(), strict=True
        ):
            known = self.video_label.setdefault(video, label)
            if known != label:
                raise ValueError(f"video {video} has clips labelled {known} and {label}")
            if video in self.video_probability:
                self.video_probability[video] += probability
            else:
                self.video_probability[video] = probability.copy()

    def video_predictions(self) -> dict[int, int]:
        """Each video's predicted class."""
        return {v: int(np.argmax(p)) for v, p in self.video_probability.items()}

    def compute(self) -> dict[str, float]:
        """`clip_accuracy` and `video_accuracy`, in percent."""
        if self.clips == 0:
            raise ValueError("no clip to evaluate")
        predictions = self.video_predictions()
        correct = sum(p == self.video_label[v] for v, p in predictions.items())
        return {
            "clip_accuracy": 100.0 * self.correct_clips / self.clips,
            "video_accuracy": 100.0 * correct / len(predictions),
        }

    def video_confusion(self) -> np.ndarray:
        """[C, C] counts of videos, rows the true class, columns the predicted one (to plot)."""
        confusion = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        for video, predicted in self.video_predictions().items():
            confusion[self.video_label[video], predicted] += 1
        return confusion
