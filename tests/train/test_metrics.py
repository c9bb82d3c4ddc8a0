"""Metrics: hand-worked examples, and the reference codes (MS-TCN's eval.py, P4Transformer's and
HOI4D_SemSeg's evaluate loops) transcribed here to compare against on random inputs."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from c2p4d.train.metrics import (
    ActionSegmentationMeter,
    ClipClassificationMeter,
    ConfusionMatrix,
    Segment,
    blind_predictions,
    edit_score,
    f1_counts,
    f1_from_counts,
    levenshtein,
    segments,
)

# --- MS-TCN's eval.py (yabufarha/ms-tcn), transcribed: np.float -> float, Python 3 ---------


def mstcn_get_labels_start_end_time(frame_wise_labels, bg_class=("background",)):
    labels = []
    starts = []
    ends = []
    last_label = frame_wise_labels[0]
    if frame_wise_labels[0] not in bg_class:
        labels.append(frame_wise_labels[0])
        starts.append(0)
    for i in range(len(frame_wise_labels)):
        if frame_wise_labels[i] != last_label:
            if frame_wise_labels[i] not in bg_class:
                labels.append(frame_wise_labels[i])
                starts.append(i)
            if last_label not in bg_class:
                ends.append(i)
            last_label = frame_wise_labels[i]
    if last_label not in bg_class:
        ends.append(i + 1)
    return labels, starts, ends


def mstcn_levenstein(p, y, norm=False):
    m_row = len(p)
    n_col = len(y)
    D = np.zeros([m_row + 1, n_col + 1], float)
    for i in range(m_row + 1):
        D[i, 0] = i
    for i in range(n_col + 1):
        D[0, i] = i
    for j in range(1, n_col + 1):
        for i in range(1, m_row + 1):
            if y[j - 1] == p[i - 1]:
                D[i, j] = D[i - 1, j - 1]
            else:
                D[i, j] = min(D[i - 1, j] + 1, D[i, j - 1] + 1, D[i - 1, j - 1] + 1)
    if norm:  # noqa: SIM108 (kept as in eval.py)
        score = (1 - D[-1, -1] / max(m_row, n_col)) * 100
    else:
        score = D[-1, -1]
    return score


def mstcn_edit_score(recognized, ground_truth, norm=True, bg_class=("background",)):
    P, _, _ = mstcn_get_labels_start_end_time(recognized, bg_class)
    Y, _, _ = mstcn_get_labels_start_end_time(ground_truth, bg_class)
    return mstcn_levenstein(P, Y, norm)


def mstcn_f_score(recognized, ground_truth, overlap, bg_class=("background",)):
    p_label, p_start, p_end = mstcn_get_labels_start_end_time(recognized, bg_class)
    y_label, y_start, y_end = mstcn_get_labels_start_end_time(ground_truth, bg_class)
    tp = 0
    fp = 0
    hits = np.zeros(len(y_label))
    for j in range(len(p_label)):
        intersection = np.minimum(p_end[j], y_end) - np.maximum(p_start[j], y_start)
        union = np.maximum(p_end[j], y_end) - np.minimum(p_start[j], y_start)
        IoU = (1.0 * intersection / union) * [p_label[j] == y_label[x] for x in range(len(y_label))]
        idx = np.array(IoU).argmax()
        if IoU[idx] >= overlap and not hits[idx]:
            tp += 1
            hits[idx] = 1
        else:
            fp += 1
    fn = len(y_label) - sum(hits)
    return float(tp), float(fp), float(fn)


def mstcn_main(videos):
    """eval.py's main() over (recognized, ground truth) pairs, returning what it prints."""
    overlap = [0.1, 0.25, 0.5]
    tp, fp, fn = np.zeros(3), np.zeros(3), np.zeros(3)
    correct = total = edit = 0
    for recog_content, gt_content in videos:
        for i in range(len(gt_content)):
            total += 1
            if gt_content[i] == recog_content[i]:
                correct += 1
        edit += mstcn_edit_score(recog_content, gt_content)
        for s in range(len(overlap)):
            tp1, fp1, fn1 = mstcn_f_score(recog_content, gt_content, overlap[s])
            tp[s] += tp1
            fp[s] += fp1
            fn[s] += fn1
    scores = {"accuracy": 100 * float(correct) / total, "edit": (1.0 * edit) / len(videos)}
    for s, name in enumerate(["f1@10", "f1@25", "f1@50"]):
        precision = tp[s] / float(tp[s] + fp[s])
        recall = tp[s] / float(tp[s] + fn[s])
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = 2.0 * (precision * recall) / (precision + recall)
        scores[name] = np.nan_to_num(f1) * 100
    return scores


# --- strategies -------------------------------------------------------------------------------

labels = st.lists(st.integers(0, 3), min_size=1, max_size=30)


@st.composite
def label_pairs(draw, min_size=1, max_size=30, low=0):
    """(pred, true) of one length; true may hold unlabelled frames (-1) when low < 0."""
    n = draw(st.integers(min_size, max_size))
    pred = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    true = draw(st.lists(st.integers(low, 3), min_size=n, max_size=n))
    return pred, true


# --- segments and Edit ------------------------------------------------------------------------


def test_segments_are_maximal_runs_with_exclusive_stops():
    assert segments([0, 0, 1, 1, 1, 0]) == [(0, 0, 2), (1, 2, 5), (0, 5, 6)]
    assert segments(np.array([3])) == [Segment(3, 0, 1)]
    assert segments([]) == []


def test_segments_refuse_scores_and_2d_arrays():
    with pytest.raises(ValueError, match="integers"):
        segments(np.array([0.2, 0.8]))
    with pytest.raises(ValueError, match="1-D"):
        segments(np.zeros((2, 3), dtype=int))


@pytest.mark.parametrize(
    "a, b, distance",
    [
        ([], [], 0),
        ([], [1, 2], 2),
        ([1, 2, 3], [1, 3], 1),  # one deletion
        ([1, 2, 3], [1, 4, 3], 1),  # one substitution
        # kitten -> sitting: k->s, e->i, +g
        ([10, 8, 19, 19, 4, 13], [18, 8, 19, 19, 8, 13, 6], 3),
    ],
)
def test_levenshtein_known_distances(a, b, distance):
    assert levenshtein(a, b) == distance
    assert levenshtein(b, a) == distance


def test_edit_of_known_distances():
    # Same segment labels [0, 1, 2], different boundaries: Edit ignores lengths.
    assert edit_score([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 2]) == 100.0
    # Over-segmentation: P = [0, 1, 0, 1, 0, 1], Y = [0, 1]; 4 deletions, (1 - 4/6) * 100.
    over = edit_score([0, 1, 0, 0, 1, 1, 0, 1], [0, 0, 0, 0, 1, 1, 1, 1])
    assert over == pytest.approx(100 / 3)
    # One segment each, wrong label: one substitution over one segment.
    assert edit_score([2, 2, 2], [1, 1, 1]) == 0.0
    # P = [0, 2, 1], Y = [0, 1]: one insertion, (1 - 1/3) * 100.
    assert edit_score([0, 2, 1, 1], [0, 0, 1, 1]) == pytest.approx(200 / 3)
    assert edit_score([], []) == 100.0


@given(label_pairs())
def test_edit_is_symmetric(pair):
    pred, true = pair
    assert edit_score(pred, true) == edit_score(true, pred)


@given(label_pairs())
def test_edit_and_f1_counts_match_mstcn(pair):
    pred, true = pair
    assert edit_score(pred, true) == mstcn_edit_score(pred, true)
    for overlap in (0.1, 0.25, 0.5, 0.9, 1.0):
        assert f1_counts(pred, true, overlap) == mstcn_f_score(pred, true, overlap)


@given(labels, labels, st.floats(0.01, 1.0))
def test_f1_counts_match_mstcn_at_any_overlap_and_lengths(pred, true, overlap):
    assert f1_counts(pred, true, overlap) == mstcn_f_score(pred, true, overlap)


# --- F1 counts --------------------------------------------------------------------------------


def test_f1_counts_of_a_worked_example():
    true = [0] * 5 + [1] * 5 + [2] * 10  # Y: (0, 0-5) (1, 5-10) (2, 10-20)
    pred = [0] * 7 + [1] * 3 + [2] * 3 + [0] * 4 + [2] * 3
    # P: (0, 0-7) (1, 7-10) (2, 10-13) (0, 13-17) (2, 17-20); IoU = intersection / hull:
    #   (0, 0-7)   vs (0, 0-5):   5 / 7 = 0.71                 TP at every threshold
    #   (1, 7-10)  vs (1, 5-10):  3 / 5 = 0.60                 TP at every threshold
    #   (2, 10-13) vs (2, 10-20): 3 / 10 = 0.30                TP at 0.1, 0.25; FP at 0.5
    #   (0, 13-17) vs (0, 0-5):   (5 - 13) / 17 < 0            FP
    #   (2, 17-20) vs (2, 10-20): 3 / 10 = 0.30, already hit at 0.1 / 0.25, < 0.5: FP
    assert f1_counts(pred, true, 0.10) == (3, 2, 0)
    assert f1_counts(pred, true, 0.25) == (3, 2, 0)
    assert f1_counts(pred, true, 0.50) == (2, 3, 1)  # (2, 10-20) is missed
    # F1@10: P = 3/5, R = 3/3 -> 2 * 0.6 / 1.6 = 75; F1@50: P = 2/5, R = 2/3 -> 50.
    assert f1_from_counts(3, 2, 0) == pytest.approx(75.0)
    assert f1_from_counts(2, 3, 1) == pytest.approx(50.0)
    assert f1_from_counts(0, 4, 2) == 0.0
    assert f1_from_counts(0, 0, 0) == 0.0


def test_f1_counts_take_the_first_true_segment_on_ties():
    # (1, 0-6) overlaps (1, 0-2) and (1, 4-6) by 2 / 6 each: the first is hit, two are missed.
    assert f1_counts([1] * 6, [1, 1, 0, 0, 1, 1], 0.25) == (1, 0, 2)
    # Y: (0, 0-3) (1, 3-4) (0, 4-7); P: (0, 0-1) (1, 1-2) (0, 2-5) (2, 5-7).
    #   (0, 0-1) vs (0, 0-3): 1/3, TP; vs (0, 4-7): (1 - 4) / 7 < 0
    #   (1, 1-2) vs (1, 3-4): (2 - 3) / 3 < 0, FP
    #   (0, 2-5) vs (0, 0-3): (3 - 2) / 5 = 0.2, vs (0, 4-7): (5 - 4) / 5 = 0.2: the first,
    #            already hit, FP (the last would have been a TP)
    #   (2, 5-7): no true segment of label 2, FP;  (1, 3-4) and (0, 4-7) missed.
    assert f1_counts([0, 1, 0, 0, 0, 2, 2], [0, 0, 0, 1, 0, 0, 0], 0.1) == (1, 3, 2)


def test_f1_counts_of_a_one_segment_sequence_and_no_truth():
    assert f1_counts([4] * 5, [4] * 5, 0.5) == (1, 0, 0)
    assert f1_counts([4] * 5, [3] * 5, 0.5) == (0, 1, 1)
    assert f1_counts([4, 4, 5], [], 0.5) == (0, 2, 0)  # MS-TCN fails here (argmax of nothing)


def test_f1_counts_refuse_overlap_outside_unit_interval():
    for overlap in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="overlap"):
            f1_counts([0], [0], overlap)


def test_one_frame_last_segment_is_whole():
    # HOI4D's copy ends the last segment at index T - 1: (1, 2-2), IoU 0/0, so (1, 1, 1) there.
    assert f1_counts([0, 0, 1], [0, 0, 1], 0.5) == (2, 0, 0)


# --- ActionSegmentationMeter ------------------------------------------------------------------


def test_meter_of_two_worked_sequences():
    meter = ActionSegmentationMeter()
    # A: 3 of 4 frames right; P = Y = [0, 1]: Edit 100; IoUs 1/2 and 2/3: tp 2.
    meter.update(np.array([0, 1, 1, 1]), np.array([0, 0, 1, 1]))
    # B: frames 1 and 4 unlabelled and dropped: pred [2, 3, 2], true [2, 2, 3]: 1 of 3 right.
    # P = [2, 3, 2], Y = [2, 3]: Edit (1 - 1/3) * 100. (2, 0-1) vs (2, 0-2): 1/2, TP;
    # (3, 1-2) vs (3, 2-3): 0, FP; (2, 2-3) vs (2, 0-2): 0, FP; (3, 2-3) missed: tp 1 fp 2 fn 1.
    meter.update(np.array([2, 0, 3, 2, 1]), np.array([2, -1, 2, 3, -1]))
    scores = meter.compute()
    assert scores["accuracy"] == pytest.approx(100 * 4 / 7)
    assert scores["edit"] == pytest.approx((100 + 200 / 3) / 2)
    # tp 3, fp 2, fn 1: P = 0.6, R = 0.75 -> 2 * 0.45 / 1.35 = 2/3.
    for name in ("f1@10", "f1@25", "f1@50"):
        assert scores[name] == pytest.approx(200 / 3)


def test_meter_skips_unlabelled_sequences_and_refuses_to_score_nothing():
    meter = ActionSegmentationMeter()
    meter.update(np.array([1, 2]), np.array([-1, -1]))
    with pytest.raises(ValueError, match="no labelled"):
        meter.compute()
    meter.update(np.array([1, 2]), np.array([1, 2]))
    assert meter.compute()["edit"] == 100.0
    meter.reset()
    assert meter.edits == [] and meter.frames == 0


def test_meter_refuses_sequences_of_different_lengths():
    with pytest.raises(ValueError, match="length"):
        ActionSegmentationMeter().update(np.array([1, 2]), np.array([1]))


def test_meter_names_its_overlaps():
    meter = ActionSegmentationMeter(overlaps=(0.75,))
    meter.update(np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1]))
    # (0, 0-3) vs (0, 0-2): 2/3 < 0.75, FP; (1, 3-4) vs (1, 2-4): 1/2, FP.
    assert meter.compute() == {"accuracy": 75.0, "edit": 100.0, "f1@75": 0.0}


@given(st.lists(labels, min_size=1, max_size=4))
def test_perfect_predictions_score_100(sequences):
    meter = ActionSegmentationMeter()
    for sequence in sequences:
        meter.update(np.array(sequence), np.array(sequence))
    names = ("accuracy", "edit", "f1@10", "f1@25", "f1@50")
    assert meter.compute() == dict.fromkeys(names, 100.0)


@given(st.lists(label_pairs(low=-1), min_size=1, max_size=4))
def test_accuracy_is_a_count_of_labelled_frames(pairs):
    meter = ActionSegmentationMeter()
    for pred, true in pairs:
        meter.update(np.array(pred), np.array(true))
    flat = [(p, t) for pred, true in pairs for p, t in zip(pred, true, strict=True) if t >= 0]
    if not flat:
        with pytest.raises(ValueError):
            meter.compute()
        return
    correct = sum(p == t for p, t in flat)
    assert meter.compute()["accuracy"] == pytest.approx(100 * correct / len(flat))


@given(st.lists(label_pairs(), min_size=1, max_size=4))
def test_meter_matches_mstcn_main(pairs):
    meter = ActionSegmentationMeter()
    for pred, true in pairs:
        meter.update(np.array(pred), np.array(true))
    ours, theirs = meter.compute(), mstcn_main(pairs)
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert ours[name] == pytest.approx(theirs[name], abs=1e-9), name


# --- ConfusionMatrix --------------------------------------------------------------------------


def worked_matrix() -> ConfusionMatrix:
    # 5 classes, void id 5 (outside them) ignored; -1 is always ignored.
    matrix = ConfusionMatrix(5, ignore=(5,))
    matrix.update(np.array([0, 0, 1, 1, 3, 2, 3, 0]), np.array([0, 0, 0, 1, 1, 2, 5, -1]))
    return matrix


def test_iou_of_a_worked_example():
    matrix = worked_matrix()
    # Kept (true, pred): (0,0) (0,0) (0,1) (1,1) (1,3) (2,2).
    # class 0: TP 2, union {0,1,2} = 3 -> 66.7; class 1: TP 1, union {2,3,4} = 3 -> 33.3;
    # class 2: 1 / 1 -> 100; class 3: predicted once, never true -> 0; class 4: absent -> NaN.
    np.testing.assert_allclose(matrix.iou(), [200 / 3, 100 / 3, 100.0, 0.0, np.nan])
    assert matrix.accuracy() == pytest.approx(100 * 4 / 6)


def test_miou_conventions():
    matrix = worked_matrix()
    # zero (Synthia): all 5 classes count -> (66.7 + 33.3 + 100 + 0 + 0) / 5.
    assert matrix.miou(absent="zero") == pytest.approx(40.0)
    # skip (HOI4D): classes 3 and 4 have no true point -> (66.7 + 33.3 + 100) / 3.
    assert matrix.miou(absent="skip") == pytest.approx(200 / 3)
    assert matrix.miou(classes=[1, 2, 3, 4], absent="zero") == pytest.approx(133.3333 / 4)
    assert matrix.miou(classes=[0, 3, 4], absent="skip") == pytest.approx(200 / 3)
    with pytest.raises(ValueError, match="none of the classes"):
        matrix.miou(classes=[3, 4], absent="skip")
    with pytest.raises(ValueError, match="absent"):
        matrix.miou(absent="nan")
    with pytest.raises(ValueError, match="subset"):
        matrix.miou(classes=[7])


def test_perfect_segmentation_scores_100_and_ignored_classes_leave_the_mean():
    matrix = ConfusionMatrix(3, ignore=(0,))
    true = np.array([[0, 1, 1], [2, 2, 0]])
    matrix.update(np.array([[2, 1, 1], [2, 2, 1]]), true)  # the errors sit on ignored points
    assert matrix.miou() == 100.0 and matrix.accuracy() == 100.0
    assert np.isnan(matrix.iou()[0])


def test_confusion_matrix_refuses_labels_outside_its_classes():
    matrix = ConfusionMatrix(3)
    with pytest.raises(ValueError, match="outside"):
        matrix.update(np.array([0]), np.array([3]))
    with pytest.raises(ValueError, match="outside"):
        matrix.update(np.array([3]), np.array([0]))
    with pytest.raises(ValueError, match="integers"):
        matrix.update(np.array([0.5]), np.array([0]))
    with pytest.raises(ValueError, match="shape"):
        matrix.update(np.array([0, 1]), np.array([0]))


def synthia_reference_miou(pred, label):
    """P4Transformer train-syn.py's evaluate(), 12 classes, void (12) masked out."""
    mask = label != 12
    total_pred_class = [0] * 12
    total_correct_class = [0] * 12
    for c in range(12):
        total_pred_class[c] += np.sum(((pred == c) | (label == c)) & mask)
        total_correct_class[c] += np.sum((pred == c) & (label == c) & mask)
    ious = []
    for c in range(12):
        iou = 0 if total_pred_class[c] == 0 else total_correct_class[c] / float(total_pred_class[c])
        ious.append(iou)
    return np.mean(np.array(ious))


def hoi4d_reference_miou(pred, label, num_classes):
    """HOI4D_SemSeg train_seg_*.py's evaluate(): skiplist [0, 1] and classes with no truth."""
    total_pred_class = [0] * num_classes
    total_correct_class = [0] * num_classes
    total_class = [0] * num_classes
    for c in range(num_classes):
        total_pred_class[c] += np.sum((pred == c) | (label == c))
        total_correct_class[c] += np.sum((pred == c) & (label == c))
        total_class[c] += np.sum(label == c)
    ious = []
    for c in range(num_classes):
        if c in [0, 1] or total_class[c] < 0.1:
            continue
        ious.append(total_correct_class[c] / float(total_pred_class[c]))
    return np.mean(np.array(ious)) if ious else None


@given(st.integers(0, 2**32 - 1))
def test_miou_matches_synthia_and_hoi4d_references(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200))
    # A few classes only, so that some are absent from the truth, the prediction or both.
    label = rng.choice(rng.integers(0, 13, 4), n)
    pred = rng.choice(rng.integers(0, 12, 4), n)
    synthia = ConfusionMatrix(12, ignore=(12,))
    synthia.update(pred, label)
    reference = synthia_reference_miou(pred, label)
    if (label != 12).any():
        assert synthia.miou(absent="zero") == pytest.approx(100 * reference)

    label, pred = label % 7, pred % 7
    hoi4d = ConfusionMatrix(7)
    hoi4d.update(pred, label)
    reference = hoi4d_reference_miou(pred, label, 7)
    if reference is None:
        with pytest.raises(ValueError):
            hoi4d.miou(classes=range(2, 7), absent="skip")
    else:
        assert hoi4d.miou(classes=range(2, 7), absent="skip") == pytest.approx(100 * reference)


# --- ClipClassificationMeter ------------------------------------------------------------------


def test_clip_meter_of_a_worked_example():
    meter = ClipClassificationMeter(3)
    # Video 7 (class 0): clips vote 1, 1, 0, but the summed probabilities [1.8, 1.2, 0] pick 0.
    meter.update(
        np.array([7, 7]),
        np.array([[0.45, 0.55, 0.0], [0.45, 0.55, 0.0]]),
        np.array([0, 0]),
    )
    # Video 8 (class 2): clips 2 (right), 1; summed [0.3, 0.9, 0.8] picks 1 (wrong).
    meter.update(
        np.array([7, 8, 8]),
        np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5], [0.1, 0.6, 0.3]]),
        np.array([0, 2, 2]),
    )
    # Clips right: the third of video 7 and the first of video 8 -> 2 / 5.
    assert meter.compute() == pytest.approx({"clip_accuracy": 40.0, "video_accuracy": 50.0})
    assert meter.video_predictions() == {7: 0, 8: 1}
    expected = np.zeros((3, 3), dtype=int)
    expected[0, 0] = expected[2, 1] = 1
    np.testing.assert_array_equal(meter.video_confusion(), expected)


def test_clip_meter_refuses_logits_mixed_labels_and_bad_shapes():
    meter = ClipClassificationMeter(2)
    with pytest.raises(ValueError, match="logits"):
        meter.update(np.array([0]), np.array([[2.0, -1.0]]), np.array([0]))
    with pytest.raises(ValueError, match="shape|expected"):
        meter.update(np.array([0, 1]), np.array([[0.5, 0.5]]), np.array([0]))
    meter.update(np.array([0]), np.array([[0.5, 0.5]]), np.array([0]))
    with pytest.raises(ValueError, match="labelled 0 and 1"):
        meter.update(np.array([0]), np.array([[0.5, 0.5]]), np.array([1]))
    with pytest.raises(ValueError, match="no clip"):
        ClipClassificationMeter(2).compute()


def p4transformer_video_accuracy(batches):
    """train-msr.py's evaluate(), video part."""
    video_prob, video_label = {}, {}
    for video_idx, prob, target in batches:
        for i in range(len(video_idx)):
            idx = video_idx[i]
            if idx in video_prob:
                video_prob[idx] += prob[i]
            else:
                video_prob[idx] = prob[i].copy()
                video_label[idx] = target[i]
    video_pred = {k: np.argmax(v) for k, v in video_prob.items()}
    return np.mean([video_pred[k] == video_label[k] for k in video_pred])


@given(st.integers(0, 2**32 - 1))
def test_video_accuracy_matches_p4transformer(seed):
    rng = np.random.default_rng(seed)
    classes, videos = 4, int(rng.integers(1, 6))
    video_label = rng.integers(0, classes, videos)
    batches = []
    for _ in range(int(rng.integers(1, 4))):
        ids = rng.integers(0, videos, int(rng.integers(1, 6)))
        batches.append((ids, rng.dirichlet(np.ones(classes), ids.size), video_label[ids]))
    meter = ClipClassificationMeter(classes)
    for batch in batches:
        meter.update(*batch)
    scores = meter.compute()
    assert scores["video_accuracy"] == pytest.approx(100 * p4transformer_video_accuracy(batches))
    clips = [(p.argmax(axis=1) == t) for _, p, t in batches]
    assert scores["clip_accuracy"] == pytest.approx(100 * np.concatenate(clips).mean())
    assert meter.video_confusion().sum() == len(meter.video_predictions())


def test_blind_predictions_by_hand():
    train = [np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 2]), np.array([-1, 1, 2, 2, 2, 2])]
    guesses = blind_predictions(train, [3, 7], classes=3)
    # labelled counts: 0 x3, 1 x5, 2 x6 -> 2; by frame: t0 0 (2 votes to none), t1 1 (2 to 1),
    # t2 1, t3 2, t4 2, t5 2 (one vote), t6 past the longest -> t5's
    assert [g.tolist() for g in guesses["most frequent"]] == [[2, 2, 2], [2] * 7]
    assert [g.tolist() for g in guesses["frame-index prior"]] == [[0, 1, 1], [0, 1, 1, 2, 2, 2, 2]]
    tie = blind_predictions([np.array([1, 0]), np.array([0, 1])], [2], classes=2)
    assert tie["frame-index prior"][0].tolist() == [0, 0]  # ties go to the lower label
    with pytest.raises(ValueError, match="no labelled training frame"):
        blind_predictions([np.array([-1, -1])], [2], classes=2)
