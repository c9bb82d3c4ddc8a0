"""Attention, the transformers and the trunks of both backbones against a plain reference written
here: per head softmax(Q Kᵀ / √d) V, with the module's own weights, in float64.

The reference's weight layout is the reference code's (`transformer.py` of P4Transformer and
PPTr): `to_qkv`'s rows are the queries, then the keys, then the values, each heads x dim_head.
"""

import math

import torch
import torch.nn.functional as F
from hypothesis import example, given
from hypothesis import strategies as st

from c2p4d.models.pptr import ball_primitives
from c2p4d.models.transformer import Attention, Transformer


def reference_attention(attention: Attention, x: torch.Tensor) -> torch.Tensor:
    """[B, L, dim] -> [B, L, dim]: each head's softmax(Q Kᵀ / √d) V, one sequence at a time."""
    heads = attention.heads
    w_q, w_k, w_v = attention.to_qkv.weight.chunk(3, dim=0)
    dim_head = w_q.shape[0] // heads
    out_linear = attention.to_out[0]
    rows = []
    for tokens in x:  # [L, dim]
        outs = []
        for h in range(heads):
            rows_of_head = slice(h * dim_head, (h + 1) * dim_head)
            q = tokens @ w_q[rows_of_head].T  # [L, d]
            k = tokens @ w_k[rows_of_head].T
            v = tokens @ w_v[rows_of_head].T
            weights = torch.softmax(q @ k.T / math.sqrt(dim_head), dim=-1)  # [L, L], rows: queries
            outs.append(weights @ v)
        mixed = torch.cat(outs, dim=-1) @ out_linear.weight.T + out_linear.bias
        rows.append(F.gelu(mixed))
    return torch.stack(rows)


def reference_transformer(transformer: Transformer, x: torch.Tensor) -> torch.Tensor:
    """Pre-norm blocks: x + attention(LN(x)), then x + Linear-GELU-Linear(LN(x))."""
    for block in transformer.layers:
        norm = block.attn_norm
        x = x + reference_attention(
            block.attn, F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
        )
        norm = block.ff_norm
        h = F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
        first, last = block.ff[0], block.ff[2]
        x = x + F.gelu(h @ first.weight.T + first.bias) @ last.weight.T + last.bias
    return x


@given(
    batch=st.integers(1, 3),
    tokens=st.integers(1, 9),
    heads=st.integers(1, 3),
    dim_head=st.integers(1, 6),
    dim=st.integers(1, 8),
    seed=st.integers(0, 2**31 - 1),
)
@example(batch=2, tokens=5, heads=2, dim_head=3, dim=4, seed=0)
def test_attention_is_softmax_of_scaled_query_key_products(
    batch, tokens, heads, dim_head, dim, seed
):
    torch.manual_seed(seed)
    attention = Attention(dim, heads, dim_head).double()
    x = torch.randn(batch, tokens, dim, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(attention(x), reference_attention(attention, x))


def test_attention_is_not_symmetric_in_queries_and_keys():
    """Softmax normalises over the keys, so exchanging queries and keys changes the output: a
    check that the reference above would tell the two apart on these inputs."""
    torch.manual_seed(0)
    attention = Attention(4, 2, 3).double()
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    swapped = Attention(4, 2, 3).double()
    with torch.no_grad():
        w_q, w_k, w_v = attention.to_qkv.weight.chunk(3, dim=0)
        swapped.to_qkv.weight.copy_(torch.cat([w_k, w_q, w_v]))
        swapped.to_out.load_state_dict(attention.to_out.state_dict())
        assert (attention(x) - swapped(x)).abs().max() > 1e-3


@given(
    batch=st.integers(1, 2),
    tokens=st.integers(1, 7),
    depth=st.integers(1, 3),
    heads=st.integers(1, 3),
    dim_head=st.integers(1, 5),
    dim=st.integers(2, 8),
    mlp_dim=st.integers(1, 8),
    seed=st.integers(0, 2**31 - 1),
)
def test_transformer_is_pre_norm_attention_and_feed_forward(
    batch, tokens, depth, heads, dim_head, dim, mlp_dim, seed
):
    torch.manual_seed(seed)
    transformer = Transformer(dim, depth, heads, dim_head, mlp_dim).double()
    x = torch.randn(batch, tokens, dim, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(transformer(x), reference_transformer(transformer, x))


def reference_trunk(model, clip: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
    """The features of `model.trunk`, with both backbones' attention from the reference above:

    - P4Transformer: the tokens of its last encoder level (per frame max-pooled when it mixes
      frames), one transformer over all of them;
    - PPTr: primitives (runs of consecutive tokens in FPS order; for segmentation, ball groups of
      point features around FPS centres), the intra-primitive transformer inside each,
      max-pooled to a token per primitive (per frame when it mixes frames), then the
      inter-primitive transformer over all of those.
    """
    config = model.config
    relu = (lambda x: x.relu()) if config.emb_relu else (lambda x: x)
    levels = model.encode(clip, features)
    if hasattr(model, "intra_transformer"):
        if config.segmentation:
            points = model.point_decoder(levels, levels[-1].features)
            _, groups = ball_primitives(
                clip, points, config.primitives, config.primitive_radius, config.primitive_points
            )
        else:
            tokens = model.embed(levels[-1])
            b, t, m, d = tokens.shape
            groups = tokens.reshape(b, t, config.primitives, m // config.primitives, d)
        b, t, p, k, d = groups.shape
        inside = reference_transformer(model.intra_transformer, relu(groups).reshape(-1, k, d))
        tokens = inside.amax(1).reshape(b, t, p, d)
        transformer = model.inter_transformer
    else:
        tokens = model.embed(levels[-1])
        transformer = model.transformer
    if config.mixing == "frames":
        tokens = tokens.amax(2)
    mixed = reference_transformer(transformer, relu(tokens).reshape(len(tokens), -1, config.dim))
    return mixed.reshape(tokens.shape)


def test_trunks_attend_as_the_reference(case, tiny):
    name, task = case
    model = tiny.build(name, task, heads=3, dim_head=5).double()
    clip, features = tiny.inputs(task)
    clip = clip.double()
    features = None if features is None else features.double()
    with torch.no_grad():
        expected = reference_trunk(model, clip, features)
        torch.testing.assert_close(model.trunk(clip, features).features, expected)
