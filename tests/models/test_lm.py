"""RecurrentLM: tying, the step contract, learning, save/load, and sampling."""

from __future__ import annotations

import math
from typing import NamedTuple

import pytest
import torch

from textseq.config import validate
from textseq.errors import ConfigError
from safetensors.torch import save_model

from textseq.lm.task import rebuild_lm
from textseq.models.lm import LMConfig, RecurrentLM
from textseq.train.checkpoint import CheckpointError
from textseq.models.recurrent import CELLS
from textseq.models.sampling import generate, sample_next, top_k_filter, top_p_filter
from textseq.train.protocol import SequenceTask, StepOutput

torch.set_num_threads(1)

V, B, T = 40, 4, 7


class Batch(NamedTuple):
    x: torch.Tensor
    y: torch.Tensor
    reset: bool = False


def _config(**overrides) -> LMConfig:
    base = dict(vocab_size=V, cell="lstm", emb_dim=12, hidden_size=16, num_layers=2,
                dropout_emb=0.0, dropout_layers=0.0, dropout_out=0.0)
    return LMConfig(**{**base, **overrides})


def _model(seed: int = 0, **overrides) -> RecurrentLM:
    torch.manual_seed(seed)
    return RecurrentLM(_config(**overrides))


def _batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (B, T), generator=gen), torch.randint(0, V, (B, T), generator=gen)


# -- weight tying -------------------------------------------------------------------------------------
@pytest.mark.parametrize("emb_dim,hidden,tie,expect_tied,expect_proj", [
    (16, 16, True, True, False),
    (12, 16, True, True, True),  # tie through a hidden -> emb projection
    (16, 16, False, False, False),
    (12, 16, False, False, False),
])
def test_weight_tying(emb_dim, hidden, tie, expect_tied, expect_proj):
    model = _model(emb_dim=emb_dim, hidden_size=hidden, tie_weights=tie)
    same_storage = model.decoder.weight.data_ptr() == model.embedding.weight.data_ptr()
    assert model.weights_tied == same_storage == expect_tied
    assert (model.proj is not None) == expect_proj
    n_params = sum(p.numel() for p in model.parameters())  # parameters() yields a shared one once
    assert (n_params < sum(p.numel() for p in model.state_dict().values())) == expect_tied
    logits, _ = model(_batch()[0])
    assert logits.shape == (B, T, V)


# -- the step contract --------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS.names())
def test_step_at_init(cell):
    model = _model(cell=cell)
    assert isinstance(model, SequenceTask)
    out = model.step(_batch())
    assert isinstance(out, StepOutput)
    assert out.count == B * T
    assert out.loss.dim() == 0 and out.loss.requires_grad
    assert out.loss.item() == pytest.approx(math.log(V), abs=0.1)  # near-uniform predictions at init
    assert out.metrics == {}
    states = out.state if isinstance(out.state, tuple) else (out.state,)
    assert len(states) == (2 if cell.startswith("lstm") else 1)
    for s in states:
        assert s.shape == (2, B, 16)
    zero = model.init_state(B, "cpu")
    for z, s in zip(zero if isinstance(zero, tuple) else (zero,), states, strict=True):
        assert z.shape == s.shape and torch.count_nonzero(z) == 0


def test_step_carries_and_resets_state():
    model = _model()
    x, y = _batch()
    first = model.step(Batch(x, y))
    carried = model.step(Batch(x, y), first.state)
    reset = model.step(Batch(x, y, reset=True), first.state)
    fresh = model.step((x, y), None)
    assert not torch.allclose(carried.loss, fresh.loss)  # the state matters...
    torch.testing.assert_close(reset.loss, fresh.loss)  # ...and `reset` drops it
    torch.testing.assert_close(first.loss, fresh.loss)
    # a (B,) tensor of flags restarts just those rows: their new state is a fresh run's, the rest carry on
    rows = model.step(Batch(x, y, reset=torch.tensor([True, False, True, False])), first.state)
    assert rows.count == B * T
    for r, f, c in zip(rows.state, fresh.state, carried.state, strict=True):
        torch.testing.assert_close(r[:, [0, 2]], f[:, [0, 2]])
        torch.testing.assert_close(r[:, [1, 3]], c[:, [1, 3]])


def test_ignored_targets_are_not_counted():
    model = _model()
    x, y = _batch()
    y = y.clone()
    y[:, :3] = -100
    out = model.step((x, y))
    assert out.count == B * (T - 3)
    logits, _ = model(x)
    expected = torch.nn.functional.cross_entropy(logits[:, 3:].reshape(-1, V), y[:, 3:].reshape(-1))
    torch.testing.assert_close(out.loss, expected)
    empty = model.step((x, torch.full_like(y, -100)))
    assert empty.count == 0 and empty.loss.item() == 0.0


def _fit_repeated_period(model: RecurrentLM, period_length: int, steps: int) -> tuple[torch.Tensor, float]:
    """Train on 4 repeats of a random period of tokens; returns (the sequence, the last loss)."""
    period = torch.randint(0, model.config.vocab_size, (period_length,), generator=torch.Generator().manual_seed(3))
    seq = period.repeat(4)
    x, y = seq[:-1].view(1, -1), seq[1:].view(1, -1)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(steps):
        loss = model.step((x, y)).loss
        if loss.item() < 0.1:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    return seq, loss.item()


@pytest.mark.parametrize("cell", ["lstm", "gru", "lstm_scratch"])
def test_tiny_model_overfits_repeated_sequence(cell):
    model = _model(cell=cell, vocab_size=8, emb_dim=16, hidden_size=32, num_layers=1)
    # a random period of 12 over 8 tokens has repeats (a token followed by different ones), so the
    # state must carry context
    _, loss = _fit_repeated_period(model, 12, 300)
    assert loss < 0.1


# -- adaptive softmax ----------------------------------------------------------------------------------
ADAPTIVE = dict(softmax="adaptive", tie_weights=False, adaptive_cutoffs=[5, 20])


def test_adaptive_step_is_the_mean_nll_of_forward_log_probs_over_real_targets():
    model = _model(**ADAPTIVE).eval()
    assert model.decoder is None and model.adaptive is not None and not model.weights_tied
    x, y = _batch()
    y = y.clone()
    y[0, :4] = -100
    log_probs, _ = model(x)  # (B, T, V)
    assert log_probs.shape == (B, T, V)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(B, T))
    real = y != -100
    expected = -log_probs.gather(2, y.clamp(min=0)[..., None])[..., 0][real].mean()
    out = model.step((x, y))
    assert out.count == int(real.sum())
    torch.testing.assert_close(out.loss, expected)
    empty = model.step((x, torch.full_like(y, -100)))
    assert empty.count == 0 and empty.loss.item() == 0.0


def test_adaptive_model_learns_and_generates():
    model = _model(vocab_size=30, emb_dim=16, hidden_size=32, num_layers=1, softmax="adaptive",
                   tie_weights=False, adaptive_cutoffs=[4, 12])
    seq, loss = _fit_repeated_period(model, 10, 400)
    assert loss < 0.1
    model.eval()
    prime = seq[:10].tolist()
    assert list(generate(model, prime, 10, temperature=0.0)) == seq[10:20].tolist()


def test_adaptive_config_errors_name_the_setting():
    with pytest.raises(ValueError, match="tie_weights"):
        _config(softmax="adaptive")  # tie_weights defaults to true
    with pytest.raises(ValueError, match="strictly increasing"):
        _config(softmax="adaptive", tie_weights=False, adaptive_cutoffs=[20, 5])
    with pytest.raises(ConfigError, match="adaptive_cutoffs"):
        RecurrentLM(_config(softmax="adaptive", tie_weights=False, adaptive_cutoffs=[100, 200]))
    with pytest.raises(ConfigError, match="adaptive_div"):  # hidden 16 // 4**2 = 1, 16 // 4**3 = 0
        RecurrentLM(_config(softmax="adaptive", tie_weights=False, adaptive_cutoffs=[5, 10, 20]))
    # cutoffs past the vocabulary are dropped, the rest kept
    assert _config(softmax="adaptive", tie_weights=False, adaptive_cutoffs=[5, 20, 1000]).cutoffs() == [5, 20]


# -- save / load --------------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides", [{}, {"tie_weights": False}, {"emb_dim": 16, "cell": "gru_scratch"},
                                       {"softmax": "adaptive", "tie_weights": False, "adaptive_cutoffs": [5, 20]}])
def test_save_load_round_trip(tmp_path, overrides):
    """Weights written as a checkpoint writes them, rebuilt from the config alone, predict the same."""
    model = _model(**overrides)
    with torch.no_grad():  # make the weights differ from a fresh init, so loading must happen
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    save_model(model, str(tmp_path / "model.safetensors"))
    loaded = rebuild_lm(model.config.model_dump(mode="json"), tmp_path / "model.safetensors")
    assert loaded.config == model.config
    assert loaded.weights_tied == model.weights_tied
    if model.weights_tied:
        assert loaded.decoder.weight.data_ptr() == loaded.embedding.weight.data_ptr()
    x = _batch()[0]
    model.eval()
    loaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)[0], model(x)[0], atol=0, rtol=0)


def _saved(tmp_path):
    model = _model()
    save_model(model, str(tmp_path / "model.safetensors"))
    return model.config.model_dump(mode="json"), tmp_path / "model.safetensors"


def test_load_corrupt_weights_names_file(tmp_path):
    config, path = _saved(tmp_path)
    path.write_bytes(b"\x00\x01 definitely not safetensors")
    with pytest.raises(CheckpointError, match="model.safetensors"):
        rebuild_lm(config, path)


def test_load_shape_mismatch_names_tensor(tmp_path):
    config, path = _saved(tmp_path)
    with pytest.raises(CheckpointError, match=r"size mismatch for decoder\.weight"):
        rebuild_lm({**config, "vocab_size": V + 1}, path)


def test_load_bad_config_names_key(tmp_path):
    config, path = _saved(tmp_path)
    config["hiden_size"] = config.pop("hidden_size")
    with pytest.raises(CheckpointError, match=r"model_config.*hiden_size"):
        rebuild_lm(config, path)


def test_unknown_cell_in_config_lists_choices():
    with pytest.raises(ConfigError) as err:
        validate(LMConfig, {"vocab_size": V, "cell": "lstmm"})
    assert "cell" in str(err.value) and "lstm_scratch" in str(err.value) and "gru" in str(err.value)


# -- sampling -------------------------------------------------------------------------------------------
def _argmax_decode(model: RecurrentLM, prime: list[int], length: int) -> list[int]:
    """Greedy decoding the slow way: re-read the whole prefix, no carried state."""
    ids = list(prime)
    with torch.no_grad():
        for _ in range(length):
            logits, _ = model(torch.tensor([ids]))
            ids.append(int(logits[0, -1].argmax()))
    return ids[len(prime):]


@pytest.mark.parametrize("cell", ["lstm", "gru_scratch"])
def test_greedy_generation_matches_argmax_decoding(cell):
    model = _model(cell=cell, dropout_emb=0.3).eval()
    prime = [3, 1, 4, 1, 5]
    greedy = list(generate(model, prime, 12, temperature=0.0))
    assert len(greedy) == 12
    assert greedy == list(generate(model, prime, 12, temperature=0.0, seed=123))
    assert greedy == _argmax_decode(model, prime, 12)
    assert list(generate(model, prime, 12, temperature=1.0, top_k=1, seed=5)) == greedy


def test_generation_seeds():
    model = _model()
    model.train()
    first = list(generate(model, [1, 2], 20, seed=0))
    assert first == list(generate(model, [1, 2], 20, seed=0))
    assert first != list(generate(model, [1, 2], 20, seed=1))
    assert model.training  # generate restores the mode it found
    assert all(0 <= i < V for i in first)


def test_top_p_keeps_smallest_set_reaching_p():
    probs = torch.tensor([0.15, 0.5, 0.05, 0.3])  # ranked: 1 (0.5), 3 (0.3), 0 (0.15), 2 (0.05)
    logits = probs.log()
    kept = lambda p: set(torch.isfinite(top_p_filter(logits, p)).nonzero().flatten().tolist())  # noqa: E731
    assert kept(0.3) == {1}
    assert kept(0.4999) == {1}  # 0.5 alone reaches p
    assert kept(0.5001) == {1, 3}
    assert kept(0.7999) == {1, 3}
    assert kept(0.8001) == {0, 1, 3}
    assert kept(0.99) == {0, 1, 2, 3}
    assert kept(1.0) == {0, 1, 2, 3}
    batched = top_p_filter(torch.stack([logits, logits.flip(0)]), 0.6)  # rows are filtered independently
    assert torch.isfinite(batched).sum(dim=1).tolist() == [2, 2]
    assert torch.isfinite(batched[1]).nonzero().flatten().tolist() == [0, 2]


def test_top_k_and_sample_next():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0], [5.0, 0.0, 0.0, 4.0]])
    filtered = top_k_filter(logits, 2)
    assert torch.isfinite(filtered).tolist() == [[False, True, False, True], [True, False, False, True]]
    assert sample_next(logits, temperature=0).tolist() == [1, 0]
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack([sample_next(logits, 1.0, top_k=2, generator=gen) for _ in range(200)])  # (200, 2)
    assert set(draws[:, 0].tolist()) == {1, 3} and set(draws[:, 1].tolist()) == {0, 3}
    nucleus = torch.stack([sample_next(logits[0], 1.0, top_p=0.5, generator=gen) for _ in range(50)])
    assert set(nucleus.tolist()) == {1}  # p(1) = 0.64 >= 0.5 on its own
    with pytest.raises(ValueError):
        sample_next(logits, temperature=-1.0)
