"""Point kernels: farthest point sampling, ball query, k-NN, z-buffer; the ground floor."""

from c2p4d.kernels.dispatch import ball_query, farthest_point_sample, knn
from c2p4d.kernels.neighbors import gather, group, three_interpolate

__all__ = ["ball_query", "farthest_point_sample", "gather", "group", "knn", "three_interpolate"]
