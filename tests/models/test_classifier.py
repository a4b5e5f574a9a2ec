"""Classifiers: padding never leaks, 'last' is the right state per direction, class weights, and the
AllenNLP train-save-load check (tiny task learnt, reload identical, every parameter gets a gradient)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from safetensors.torch import save_model

from textseq.classify.task import rebuild_classifier
from textseq.config import validate
from textseq.errors import ConfigError, InputError
from textseq.models.classifier import (
    BagOfEmbeddings, ClassificationBatch, ClassifierConfig, RecurrentClassifier, _run_by_length,
    build_classifier, run_recurrent,
)
from textseq.models.recurrent import CELLS
from textseq.train.checkpoint import CheckpointError
from textseq.train.protocol import SequenceTask, StepOutput

torch.set_num_threads(1)

V = 16
ALL_CELLS = ["gru", "gru_scratch", "lstm", "lstm_ln", "lstm_scratch", "mingru", "minlstm", "ode_rnn", "rnn", "rnn_scratch"]


def _config(**overrides) -> ClassifierConfig:
    base = dict(vocab_size=V, num_classes=3, emb_dim=6, hidden_size=5, num_layers=2, attention_dim=4,
                ff_hidden=[7], dropout_emb=0.0, dropout_rnn=0.0, dropout_ff=0.0)
    return ClassifierConfig(**{**base, **overrides})


def _model(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_classifier(_config(**overrides)).eval()


def _padded(lengths: list[int], seed: int = 0, pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, V, (len(lengths), max(lengths)), generator=gen)
    lengths_t = torch.tensor(lengths)
    ids[torch.arange(ids.size(1)) >= lengths_t.unsqueeze(1)] = pad
    return ids, lengths_t


def test_cells_under_test_are_all_registered():
    assert sorted(CELLS.names()) == ALL_CELLS


# -- padding never leaks ---------------------------------------------------------------------------------
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention", "concat"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", ALL_CELLS)
def test_review_alone_equals_review_in_padded_batch(cell, bidirectional, pooling):
    model = _model(cell=cell, bidirectional=bidirectional, pooling=pooling)
    ids, lengths = _padded([5, 9, 2, 7])  # the review under test (row 0) has longer and shorter neighbours
    with torch.no_grad():
        batch = model(ids, lengths)
        alone = model(ids[:1, :5], lengths[:1])
        other_pads = model(ids.masked_fill(ids == 0, 7), lengths)  # padding positions now hold id 7
    torch.testing.assert_close(batch.probs[:1], alone.probs, atol=1e-5, rtol=0)
    torch.testing.assert_close(other_pads.probs, batch.probs, atol=1e-6, rtol=0)
    torch.testing.assert_close(batch.probs.sum(-1), torch.ones(4))
    assert (batch.attention is not None) == (pooling == "attention")


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", ["lstm", "mingru", "lstm_ln"])
def test_residual_blocks_never_see_padding_and_train(cell, bidirectional):
    model = _model(cell=cell, bidirectional=bidirectional, block="residual", norm="rmsnorm")
    ids, lengths = _padded([5, 9, 2, 7])
    with torch.no_grad():
        batch = model(ids, lengths)
        alone = model(ids[:1, :5], lengths[:1])
    torch.testing.assert_close(batch.probs[:1], alone.probs, atol=1e-5, rtol=0)
    model.train()
    model.step((ids, lengths, torch.tensor([0, 1, 2, 0]))).loss.backward()
    groups = model.layer_groups()
    assert [name for name, _ in groups] == ["embedding", "rnn.l0", "rnn.l1", "head"]
    assert sum(len(ps) for _, ps in groups) == len(list(model.parameters()))
    assert all(p.grad is not None for p in model.rnn.parameters())


def test_pad_id_values_never_matter_even_for_random_garbage():
    model = _model(cell="gru", pooling="mean")
    ids, lengths = _padded([3, 8, 1])
    garbage = ids.clone()
    pad = torch.arange(ids.size(1)) >= lengths.unsqueeze(1)
    garbage[pad] = torch.randint(0, V, (int(pad.sum()),))
    with torch.no_grad():
        torch.testing.assert_close(model(garbage, lengths).logits, model(ids, lengths).logits, atol=0, rtol=0)


def test_attention_weights_sum_to_one_over_real_tokens_and_are_zero_on_padding():
    model = _model(cell="lstm", bidirectional=True, pooling="attention")
    ids, lengths = _padded([4, 9, 1, 6])
    weights = model(ids, lengths).attention  # (B, T)
    real = torch.arange(ids.size(1)) < lengths.unsqueeze(1)
    torch.testing.assert_close(weights.sum(1), torch.ones(4))
    assert (weights[~real] == 0).all() and (weights[real] > 0).all()


def test_last_pooling_of_bidirectional_lstm_is_forward_state_at_end_and_backward_state_at_start():
    model = _model(cell="lstm", bidirectional=True, pooling="last", num_layers=1)
    seen = []
    model.pooling.register_forward_hook(lambda mod, args, out: seen.append(out[0]))
    ids, lengths = _padded([3, 6, 1, 5])
    model(ids, lengths)
    H = model.config.hidden_size
    for b, n in enumerate(lengths.tolist()):
        out, _ = model.rnn(model.embedding(ids[b:b + 1, :n]))  # (1, n, 2H), one sequence, no padding
        expected = torch.cat([out[0, n - 1, :H], out[0, 0, H:]])  # forward after the last token, backward after the first
        torch.testing.assert_close(seen[0][b], expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn"])
def test_masked_scratch_run_matches_fused_run(mode):
    """Scratch modules (masked scan) and torch's (fused kernel per direction) compute the same outputs and final states."""
    from textseq.models.cells import from_torch

    torch.manual_seed(0)
    fused = CELLS.get(mode)(6, 5, 2, 0.0, True)
    scratch = from_torch(fused)
    x, lengths = torch.randn(4, 9, 6), torch.tensor([9, 3, 1, 6])
    out_f, h_f = run_recurrent(fused, x, lengths)
    out_s, h_s = run_recurrent(scratch, x, lengths)
    out_g, h_g = _run_by_length(scratch, x, lengths)  # the generic fallback, also padding-free
    for out, h in ((out_s, h_s), (out_g, h_g)):
        torch.testing.assert_close(out, out_f, atol=1e-5, rtol=0)
        torch.testing.assert_close(h, h_f, atol=1e-5, rtol=0)
    assert (out_s[torch.arange(9) >= lengths.unsqueeze(1)] == 0).all()


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn"])
def test_fused_run_matches_pack_padded_sequence_in_values_and_gradients(mode):
    """The per-direction run over padded rows is what packing computes: outputs, final states, gradients."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.manual_seed(1)
    module = CELLS.get(mode)(6, 5, 2, 0.0, True).train()
    x, lengths = torch.randn(5, 8, 6), torch.tensor([8, 3, 1, 6, 8])
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, h_n = run_recurrent(module, x_ours, lengths)
    packed, state = module(pack_padded_sequence(x_ref, lengths, batch_first=True, enforce_sorted=False))
    ref_out, _ = pad_packed_sequence(packed, batch_first=True, total_length=8)
    ref_h = state[0] if isinstance(state, tuple) else state
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=0)
    torch.testing.assert_close(h_n, ref_h, atol=1e-5, rtol=0)
    ours = torch.autograd.grad((out.sin().sum() + h_n.cos().sum()), [x_ours, *module.parameters()])
    ref = torch.autograd.grad((ref_out.sin().sum() + ref_h.cos().sum()), [x_ref, *module.parameters()])
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert (ours[0][1, 3:] == 0).all()  # no gradient reaches padding positions


# -- config and input errors -----------------------------------------------------------------------------
@pytest.mark.parametrize("key,value,message", [
    ("cell", "lstn", "did you mean 'lstm'"),
    ("pooling", "avg", "valid: attention, concat, last, max, mean"),
    ("embedder", "glove", "valid: charngram, pretrained, random"),
    ("kind", "cnn", "valid: bag, recurrent"),
    ("class_weights", [1.0, 2.0], "one per class"),
    ("extra", 1, "unknown key"),
])
def test_config_errors_name_the_key(key, value, message):
    with pytest.raises(ConfigError, match=message):
        validate(ClassifierConfig, {"vocab_size": V, "num_classes": 3, key: value}, where="cls.yaml")


def test_embedder_errors():
    with pytest.raises(ConfigError, match="needs embedding_weights"):
        build_classifier(_config(embedder="pretrained"))
    with pytest.raises(ConfigError, match=r"shape \(3, 6\)"):
        build_classifier(_config(embedder="pretrained"), embedding_weights=torch.zeros(3, 6))
    with pytest.raises(ConfigError, match="needs the embedder module"):
        build_classifier(_config(embedder="charngram"))
    with pytest.raises(ConfigError, match="expected \\(1, 2, 6\\)"):
        build_classifier(_config(embedder="charngram"), embedder=torch.nn.Embedding(V, 4))


def test_lengths_out_of_range_are_input_errors():
    model = _model()
    ids, _ = _padded([3, 4])
    for bad in ([0, 4], [3, 5]):
        with pytest.raises(InputError, match="lengths must lie in 1..T=4"):
            model(ids, torch.tensor(bad))


# -- loss -------------------------------------------------------------------------------------------------
def test_class_weights_weight_each_example_by_its_class():
    ids, lengths = _padded([4, 2, 5, 3])
    labels = torch.tensor([0, 2, 2, 1])
    plain = _model(seed=3)
    weighted = _model(seed=3, class_weights=[1.0, 2.0, 5.0])
    logits = plain(ids, lengths).logits
    nll = -logits.log_softmax(-1).gather(1, labels.unsqueeze(1)).squeeze(1)  # (B,)
    w = torch.tensor([1.0, 5.0, 5.0, 2.0])  # each example's class weight
    batch = ClassificationBatch(ids, lengths, labels)
    out_plain, out_weighted = plain.step(batch), weighted.step(batch)
    torch.testing.assert_close(out_plain.loss, nll.mean())
    torch.testing.assert_close(out_weighted.loss, (w * nll).sum() / w.sum())
    assert abs(float(out_weighted.loss.detach() - out_plain.loss.detach())) > 1e-4
    assert out_weighted.count == 4 and 0.0 <= out_weighted.metrics["accuracy"] <= 1.0
    probs, got_labels = out_weighted.outputs
    assert probs.shape == (4, 3) and got_labels is labels


# -- train, save, load ------------------------------------------------------------------------------------
def _task(n: int = 24, seed: int = 0) -> ClassificationBatch:
    """Label = which of the marker tokens 1, 2, 3 the review holds, somewhere among noise tokens 4..V-1."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, 9, (n,), generator=gen)
    ids = torch.randint(4, V, (n, int(lengths.max())), generator=gen)
    labels = torch.arange(n) % 3
    for b in range(n):
        ids[b, int(torch.randint(0, int(lengths[b]), (1,), generator=gen))] = 1 + labels[b]
        ids[b, int(lengths[b]):] = 0
    return ClassificationBatch(ids, lengths, labels)


TRAIN_CASES = {
    "bilstm-last": dict(cell="lstm", bidirectional=True, pooling="last", num_layers=1),
    "gru_scratch-attention": dict(cell="gru_scratch", bidirectional=True, pooling="attention", num_layers=1),
    "rnn-max-frozen-pretrained": dict(cell="rnn", pooling="max", embedder="pretrained", freeze_embeddings=True),
    "bag": dict(kind="bag", emb_dim=12),
}


@pytest.mark.parametrize("case", sorted(TRAIN_CASES))
def test_train_save_load(case, tmp_path):
    overrides = dict(TRAIN_CASES[case], dropout_emb=0.1, dropout_rnn=0.1, dropout_ff=0.1, hidden_size=12, emb_dim=12)
    config = _config(**overrides)
    torch.manual_seed(0)
    weights = torch.randn(V, 12) if config.embedder == "pretrained" else None
    model = build_classifier(config, embedding_weights=weights)
    assert isinstance(model, SequenceTask) and isinstance(model, BagOfEmbeddings if case == "bag" else RecurrentClassifier)
    data = _task()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.03)
    model.train()
    for step in range(60):
        optimizer.zero_grad()
        out = model.step(data)
        assert isinstance(out, StepOutput) and out.count == len(data.labels)
        out.loss.backward()
        if step == 0:  # every trainable parameter takes part in the loss; frozen ones get nothing
            for name, p in model.named_parameters():
                if p.requires_grad:
                    assert p.grad is not None and p.grad.abs().sum() > 0, name
                else:
                    assert p.grad is None and name.startswith("embedding") and config.freeze_embeddings
        optimizer.step()
    model.eval()
    with torch.no_grad():
        assert model.step(data).metrics["accuracy"] == 1.0
        before = model(data.ids, data.lengths)
    if weights is not None:  # frozen vectors stayed exactly as given
        torch.testing.assert_close(model.embedding.weight, weights, atol=0, rtol=0)
    save_model(model, str(tmp_path / "model.safetensors"))
    loaded = rebuild_classifier(config.model_dump(mode="json"), tmp_path / "model.safetensors")
    assert loaded.config == config and type(loaded) is type(model)
    assert all(p.requires_grad == q.requires_grad for p, q in zip(model.parameters(), loaded.parameters()))
    with torch.no_grad():
        after = loaded.eval()(data.ids, data.lengths)
    torch.testing.assert_close(after.probs, before.probs, atol=0, rtol=0)


def test_bag_of_embeddings_averages_real_tokens_only():
    model = _model(kind="bag", ff_hidden=[])
    ids, lengths = _padded([2, 5, 3])
    seen = []
    model.head.register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    model(ids, lengths)
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(seen[0][b], model.embedding.weight[ids[b, :n]].mean(0))
    garbage = ids.clone()
    garbage[torch.arange(5) >= lengths.unsqueeze(1)] = V - 1
    torch.testing.assert_close(model(garbage, lengths).probs, model(ids, lengths).probs, atol=0, rtol=0)


def test_class_weights_follow_the_model_to_a_device_but_not_into_the_weights_file(tmp_path):
    model = _model(class_weights=[1.0, 1.0, 3.0])
    assert "class_weights" not in model.state_dict()
    save_model(model, str(tmp_path / "model.safetensors"))
    loaded = rebuild_classifier(model.config.model_dump(mode="json"), tmp_path / "model.safetensors")
    torch.testing.assert_close(loaded.class_weights, torch.tensor([1.0, 1.0, 3.0]))


def test_load_rejects_weights_that_do_not_match_the_config(tmp_path):
    model = _model(hidden_size=5)
    save_model(model, str(tmp_path / "model.safetensors"))
    config = {**model.config.model_dump(mode="json"), "hidden_size": 6}
    with pytest.raises(CheckpointError, match=r"cannot load .*model\.safetensors into .*size mismatch"):
        rebuild_classifier(config, tmp_path / "model.safetensors")


def test_loss_is_cross_entropy_of_the_logits():
    model = _model(kind="bag")
    data = _task(6)
    out = model.step(data)
    torch.testing.assert_close(out.loss, F.cross_entropy(model(data.ids, data.lengths).logits, data.labels))
