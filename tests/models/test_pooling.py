"""Poolings: masked reductions ignore padding whatever it holds; attention weights are a distribution over real tokens."""

from __future__ import annotations

import pytest
import torch

from textseq.errors import ConfigError
from textseq.models.pooling import POOLINGS, AttentionPooling, make_pooling, masked_mean

torch.set_num_threads(1)

B, T, F = 3, 6, 4
LENGTHS = torch.tensor([6, 2, 4])
MASK = torch.arange(T) < LENGTHS.unsqueeze(1)  # (B, T)


def _outputs(seed: int = 0, pad_value: float | None = None) -> torch.Tensor:
    out = torch.randn(B, T, F, generator=torch.Generator().manual_seed(seed))
    if pad_value is not None:
        out = out.masked_fill(~MASK.unsqueeze(-1), pad_value)
    return out


def test_registry_names_and_unknown_name():
    assert POOLINGS.names() == ["attention", "concat", "last", "max", "mean"]
    with pytest.raises(ConfigError, match="valid: attention, concat, last, max, mean"):
        make_pooling("avg", F, 8)


@pytest.mark.parametrize("name", ["mean", "max", "attention"])
@pytest.mark.parametrize("pad_value", [0.0, 1e6, -1e6, float("inf")])
def test_padding_values_do_not_matter(name, pad_value):
    torch.manual_seed(0)
    pool = make_pooling(name, F, 5)
    reference, _ = pool(_outputs(), MASK)
    pooled, _ = pool(_outputs(pad_value=pad_value), MASK)
    assert torch.isfinite(pooled).all()
    torch.testing.assert_close(pooled, reference, atol=0, rtol=0)


def test_masked_mean_and_max_by_hand():
    out = _outputs()
    for b, n in enumerate(LENGTHS.tolist()):
        torch.testing.assert_close(masked_mean(out, MASK)[b], out[b, :n].mean(0))
        torch.testing.assert_close(make_pooling("max", F, 1)(out, MASK)[0][b], out[b, :n].max(0).values)


def test_max_of_all_negative_values_is_not_padding_zero():
    out = -torch.rand(B, T, F) - 1.0  # every real value < -1; zeros only where padding is filled with 0
    out = out.masked_fill(~MASK.unsqueeze(-1), 0.0)
    pooled, _ = make_pooling("max", F, 1)(out, MASK)
    assert (pooled < -1.0).all()


def test_attention_weights_sum_to_one_on_real_tokens_and_zero_on_padding():
    torch.manual_seed(0)
    pool = AttentionPooling(F, 7)
    pooled, weights = pool(_outputs(), MASK)
    assert weights.shape == (B, T)
    torch.testing.assert_close(weights.sum(1), torch.ones(B))
    assert (weights[~MASK] == 0).all() and (weights[MASK] > 0).all()
    torch.testing.assert_close(pooled, (weights.unsqueeze(-1) * _outputs()).sum(1))  # the weighted sum


def test_last_pooling_passes_final_states_through():
    last = torch.randn(B, F)
    pooled, weights = make_pooling("last", F, 1)(_outputs(), MASK, last)
    assert pooled is last and weights is None
    with pytest.raises(ConfigError, match="final states"):
        make_pooling("last", F, 1)(_outputs(), MASK)


def test_concat_is_last_then_max_then_mean_and_triples_the_size():
    out, last = _outputs(), torch.randn(B, F)
    pool = make_pooling("concat", F, 1)
    pooled, weights = pool(out, MASK, last)
    assert pool.output_size == 3 * F and pooled.shape == (B, 3 * F) and weights is None
    torch.testing.assert_close(pooled[:, :F], last)
    torch.testing.assert_close(pooled[:, F:2 * F], make_pooling("max", F, 1)(out, MASK)[0])
    torch.testing.assert_close(pooled[:, 2 * F:], masked_mean(out, MASK))
    with pytest.raises(ConfigError, match="final states"):
        pool(out, MASK)
