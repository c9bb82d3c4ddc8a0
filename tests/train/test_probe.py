"""The k-NN probe's vote: the same labels as a plain loop, and only features that carry them;
the trunk is fed coordinates in its own units."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from c2p4d.pipeline.store import Store
from c2p4d.train.config import DataConfig, ProbeConfig
from c2p4d.train.probe import KnnProbe, knn_predict


def knn_by_loop(bank, bank_labels, queries, k, classes):
    """Each query: cosine similarity to every bank row, the k most similar vote exp(s / 0.07)."""
    out = []
    for q in queries:
        sims = [float(q @ b / (np.linalg.norm(q) * np.linalg.norm(b))) for b in bank]
        order = sorted(range(len(bank)), key=lambda i: -sims[i])[:k]
        votes = np.zeros(classes)
        for i in order:
            votes[bank_labels[i]] += np.exp(sims[i] / 0.07)
        out.append(int(np.argmax(votes)))
    return out


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 12),  # bank rows
    st.integers(1, 5),  # queries
    st.integers(1, 15),  # k, may exceed the bank
    st.integers(2, 4),  # classes
    st.integers(0, 2**16),
)
def test_knn_vote_matches_a_loop(rows, count, k, classes, seed):
    rng = np.random.default_rng(seed)
    bank = rng.normal(size=(rows, 3)) + 0.1
    labels = rng.integers(0, classes, rows)
    queries = rng.normal(size=(count, 3)) + 0.1
    predicted = knn_predict(
        torch.tensor(bank), torch.tensor(labels), torch.tensor(queries), k, classes
    )
    assert predicted.tolist() == knn_by_loop(bank, labels, queries, min(k, rows), classes)


def test_features_that_carry_the_label_are_read_and_noise_is_not():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 400)
    carrying = np.eye(4)[labels] + 0.1 * rng.normal(size=(400, 4))
    noise = rng.normal(size=(400, 4))
    for features, low, high in ((carrying, 0.99, 1.0), (noise, 0.1, 0.45)):
        bank, queries = torch.tensor(features[:300]), torch.tensor(features[300:])
        predicted = knn_predict(bank, torch.tensor(labels[:300]), queries, 10, 4).numpy()
        assert low <= np.mean(predicted == labels[300:]) <= high


class Centroids(torch.nn.Module):
    """A trunk whose frame features are the frames' centroids; it keeps what it was fed."""

    def __init__(self):
        super().__init__()
        self.fed: list[torch.Tensor] = []

    def frame_features(self, clip, features):
        self.fed.append(clip)
        return clip.mean(dim=2)


def test_the_probe_feeds_the_trunk_coordinates_in_its_units(hoi_store):
    store = Store.open(hoi_store)
    data = DataConfig(clip_frames=8, frame_stride=1, points=64)
    scores = []
    for scale in (1.0, 10.0):
        trunk = Centroids()
        scores.append(KnnProbe(store, data, ProbeConfig(k=3), 0, scale)(trunk, torch.device("cpu")))
        fed = torch.cat(trunk.fed)
        if scale == 1.0:
            plain = fed
    torch.testing.assert_close(fed, 10 * plain)  # the same clips, in decimetres
    assert scores[0] == scores[1]  # cosine k-NN: the same votes at any scale
    assert scores[0].frames == 24  # the val sequence's 24 frames, every one labelled
