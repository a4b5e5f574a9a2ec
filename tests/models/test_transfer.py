"""ULMFiT transfer: weights copied from a RecurrentLM, discriminative lrs, gradual unfreezing."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Iterator

import pytest
import torch

from textseq.errors import ConfigError
from textseq.models.classifier import ClassificationBatch, ClassifierConfig, build_classifier
from textseq.models.lm import LMConfig, RecurrentLM
from textseq.models.transfer import GradualUnfreezing, discriminative_param_groups, init_from_lm
from textseq.train.callbacks import Callback
from textseq.train.serialize import load_tree, save_tree

torch.set_num_threads(1)

V, E, H, L = 20, 8, 6, 2


def _lm(**overrides) -> RecurrentLM:
    torch.manual_seed(1)
    base = dict(vocab_size=V, cell="lstm", emb_dim=E, hidden_size=H, num_layers=L, dropout_emb=0.0,
                dropout_layers=0.0, dropout_out=0.0)
    return RecurrentLM(LMConfig(**{**base, **overrides}))


def _classifier(**overrides):
    torch.manual_seed(2)
    base = dict(vocab_size=V, num_classes=2, emb_dim=E, hidden_size=H, num_layers=L, cell="lstm",
                bidirectional=True, pooling="attention", ff_hidden=[5])
    return build_classifier(ClassifierConfig(**{**base, **overrides}))


# -- init_from_lm ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_embedding_and_encoder_weights_are_copied(bidirectional):
    lm, clf = _lm(), _classifier(bidirectional=bidirectional)
    reverse_before = {n: p.clone() for n, p in clf.rnn.named_parameters() if n.endswith("_reverse")}
    report = init_from_lm(clf, lm)
    torch.testing.assert_close(clf.embedding.weight, lm.embedding.weight, atol=0, rtol=0)
    lm_rnn = lm.rnn.state_dict()
    for name, p in clf.rnn.named_parameters():
        if name.endswith("_reverse"):  # nothing in the LM for the backward direction: left as it was
            torch.testing.assert_close(p, reverse_before[name], atol=0, rtol=0)
            assert f"rnn.{name}" in report.kept
        elif p.shape != lm_rnn[name].shape:  # layer 1 input weights of a BiLSTM: [forward | backward] columns
            assert bidirectional and name == "weight_ih_l1"
            torch.testing.assert_close(p[:, :H], lm_rnn[name], atol=0, rtol=0)
            assert (p[:, H:] == 0).all() and f"rnn.{name}" in report.copied
        else:
            torch.testing.assert_close(p, lm_rnn[name], atol=0, rtol=0)
            assert f"rnn.{name}" in report.copied
    assert len(report.copied) == 1 + 4 * L
    assert any("forward direction" in note for note in report.notes) == bidirectional


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_copied_forward_stack_computes_what_the_lm_computes(bidirectional):
    lm, clf = _lm().eval(), _classifier(bidirectional=bidirectional).eval()
    init_from_lm(clf, lm)
    ids = torch.randint(0, V, (2, 5))
    lm_out, _ = lm.rnn(lm.embedding(ids))  # (B, T, H)
    clf_out, _ = clf.rnn(clf.embedding(ids))  # (B, T, D*H); forward features first
    torch.testing.assert_close(clf_out[..., :H], lm_out, atol=1e-6, rtol=0)


@pytest.mark.parametrize("lm_key,clf_key,value,message", [
    ("vocab_size", None, V + 1, "vocab_size: LM 21 vs classifier 20"),
    ("emb_dim", None, E + 2, "emb_dim"),
    ("hidden_size", None, H + 1, "hidden_size"),
    ("num_layers", None, 1, "num_layers"),
    ("cell", None, "gru", "cell: LM gru vs classifier lstm"),
    (None, "cell", "lstm_scratch", "cell: LM lstm vs classifier lstm_scratch"),
])
def test_mismatches_are_config_errors(lm_key, clf_key, value, message):
    lm = _lm(**({lm_key: value} if lm_key else {}))
    clf = _classifier(**({clf_key: value} if clf_key else {}))
    before = clf.embedding.weight.clone()
    with pytest.raises(ConfigError, match=message):
        init_from_lm(clf, lm)
    torch.testing.assert_close(clf.embedding.weight, before, atol=0, rtol=0)  # nothing half-copied


def test_non_matrix_embedder_is_a_config_error():
    from torch import nn

    class Summed(nn.Module):  # any ids -> vectors module that is not an nn.Embedding
        def __init__(self):
            super().__init__()
            self.table = nn.Embedding(V, E)

        def forward(self, ids):
            return self.table(ids) * 2

    clf = build_classifier(ClassifierConfig(vocab_size=V, emb_dim=E, hidden_size=H, num_layers=L, embedder="charngram"),
                           embedder=Summed())
    with pytest.raises(ConfigError, match="no word-embedding matrix"):
        init_from_lm(clf, _lm())


def test_bag_model_takes_the_embedding_only():
    lm, bag = _lm(), _classifier(kind="bag", hidden_size=99, num_layers=1)  # encoder sizes are irrelevant to it
    report = init_from_lm(bag, lm)
    torch.testing.assert_close(bag.embedding.weight, lm.embedding.weight, atol=0, rtol=0)
    assert report.copied == ["embedding.weight"] and "only the embedding" in report.notes[0]


def _backward_lm_on(lm: RecurrentLM) -> RecurrentLM:
    """A backward LM with lm's embedding (as `--set embedding.from_lm=...` trains it) and other weights."""
    back = _lm(direction="backward", num_layers=lm.config.num_layers)
    torch.manual_seed(3)
    back.rnn.reset_parameters()
    with torch.no_grad():
        back.embedding.weight.copy_(lm.embedding.weight)
    return back


@pytest.mark.parametrize("layers", [1, 2])
def test_backward_lm_starts_the_right_to_left_direction(layers):
    lm = _lm(num_layers=layers).eval()
    back = _backward_lm_on(lm).eval()
    clf = _classifier(num_layers=layers).eval()
    report = init_from_lm(clf, lm, back)
    assert report.kept == [] and len(report.copied) == 1 + 8 * layers
    assert any("right-to-left direction" in note for note in report.notes)
    ids = torch.randint(0, V, (2, 7))
    clf_out, _ = clf.rnn(clf.embedding(ids))  # (B, T, 2H): forward features, then right-to-left ones
    fwd, _ = lm.rnn(lm.embedding(ids))
    bwd, _ = back.rnn(back.embedding(ids.flip(1)))  # the backward LM reads the sequence reversed
    torch.testing.assert_close(clf_out[..., :H], fwd, atol=1e-5, rtol=0)
    if layers == 1:  # above the first layer each direction also reads the other's features (zero weights at first)
        torch.testing.assert_close(clf_out[..., H:], bwd.flip(1), atol=1e-5, rtol=0)
    else:
        assert (clf.rnn.weight_ih_l1_reverse[:, :H] == 0).all()
        torch.testing.assert_close(clf.rnn.weight_ih_l1_reverse[:, H:], back.rnn.weight_ih_l1, atol=0, rtol=0)


def test_a_backward_lm_with_its_own_embedding_is_refused():
    lm, clf = _lm(), _classifier()
    back = _backward_lm_on(lm)
    with torch.no_grad():
        back.embedding.weight[3] += 0.01
    with pytest.raises(ConfigError, match="embedding of its own.*embedding.from_lm=FORWARD_RUN"):
        init_from_lm(clf, lm, back)


@pytest.mark.parametrize("fwd_dir,back_dir,clf_kw,message", [
    ("backward", "backward", {}, "pass it as the backward LM"),
    ("forward", "forward", {}, "model.direction=backward"),
    ("forward", "backward", {"bidirectional": False}, "needs a bidirectional"),
    ("forward", "backward", {"kind": "bag", "num_layers": 1}, "needs a bidirectional"),
])
def test_backward_transfer_mistakes_are_config_errors(fwd_dir, back_dir, clf_kw, message):
    clf = _classifier(**clf_kw)
    before = clf.embedding.weight.clone()
    with pytest.raises(ConfigError, match=message):
        init_from_lm(clf, _lm(direction=fwd_dir), _lm(direction=back_dir))
    torch.testing.assert_close(clf.embedding.weight, before, atol=0, rtol=0)


def test_backward_lm_of_another_size_is_named():
    with pytest.raises(ConfigError, match="backward LM: hidden_size: LM 7 vs classifier 6"):
        init_from_lm(_classifier(), _lm(), _lm(direction="backward", hidden_size=H + 1))


# -- discriminative learning rates -------------------------------------------------------------------------
@pytest.mark.parametrize("freeze", [False, True])
def test_discriminative_groups_decay_per_layer_and_cover_every_trainable_parameter_once(freeze):
    clf = _classifier(freeze_embeddings=freeze)
    groups = discriminative_param_groups(clf, base_lr=1e-2, decay=2.6, weight_decay=0.1)
    names = list(dict.fromkeys(g["name"] for g in groups))  # in order, once each
    expected = ["head", "rnn.l1", "rnn.l0"] + ([] if freeze else ["embedding"])
    assert names == expected
    for depth, name in enumerate(names):
        for g in groups:
            if g["name"] == name:
                assert g["lr"] == pytest.approx(1e-2 / 2.6**depth)
                assert g["weight_decay"] == (0.1 if all(p.dim() >= 2 for p in g["params"]) else 0.0)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in clf.parameters() if p.requires_grad}
    # the groups work in an optimizer, and its state survives the trainer's checkpoint format
    opt = torch.optim.AdamW(groups, lr=1.0)
    clf.step(ClassificationBatch(torch.randint(0, V, (2, 4)), torch.tensor([4, 2]), torch.tensor([0, 1]))).loss.backward()
    opt.step()
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in groups]


def test_optimizer_with_named_groups_round_trips_through_checkpoint_format(tmp_path):
    clf = _classifier()
    opt = torch.optim.AdamW(discriminative_param_groups(clf, 1e-3), lr=1.0)
    clf.step(ClassificationBatch(torch.randint(0, V, (2, 4)), torch.tensor([4, 2]), torch.tensor([0, 1]))).loss.backward()
    opt.step()
    save_tree(opt.state_dict(), tmp_path / "opt.safetensors")
    fresh = torch.optim.AdamW(discriminative_param_groups(clf, 1e-3), lr=1.0)
    state = load_tree(tmp_path / "opt.safetensors")
    for saved, live in zip(state["param_groups"], fresh.param_groups):  # JSON turned tuples into lists
        saved["betas"] = live["betas"]
    fresh.load_state_dict(state)
    assert [g["name"] for g in fresh.param_groups] == [g["name"] for g in opt.param_groups]


# -- gradual unfreezing ------------------------------------------------------------------------------------
def _trainable(model) -> list[str]:
    return [name for name, params in model.layer_groups() if all(p.requires_grad for p in params)]


def _fake_trainer(model, batches_per_epoch: int | None = None):
    data = list(range(batches_per_epoch)) if batches_per_epoch else iter(())
    return SimpleNamespace(model=model, step=0, epoch=0, train_data=data, cfg=SimpleNamespace(accumulate=1))


def test_gradual_unfreezing_every_n_steps_in_documented_order():
    clf = _classifier()
    cb, trainer = GradualUnfreezing(every_steps=3), _fake_trainer(clf)
    cb.on_fit_start(trainer)
    seen = [tuple(_trainable(clf))]
    for step in range(1, 13):
        trainer.step = step
        cb.on_step_end(trainer, step, {})
        seen.append(tuple(_trainable(clf)))
    head, top, bottom, emb = ("head",), ("rnn.l1", "head"), ("rnn.l0", "rnn.l1", "head"), ("embedding", "rnn.l0", "rnn.l1", "head")
    assert seen == [head] * 3 + [top] * 3 + [bottom] * 3 + [emb] * 4
    assert cb.history == [(0, "head"), (3, "rnn.l1"), (6, "rnn.l0"), (9, "embedding")]


def test_gradual_unfreezing_per_epoch_and_after_resume():
    clf = _classifier()
    cb, trainer = GradualUnfreezing(every_epochs=1), _fake_trainer(clf, batches_per_epoch=4)
    trainer.step = 5  # a run resumed in its second epoch
    cb.on_fit_start(trainer)
    assert _trainable(clf) == ["rnn.l1", "head"]
    trainer.step = 8  # the last step of epoch 1: the next step is the first of epoch 2
    cb.on_step_end(trainer, 8, {})
    assert _trainable(clf) == ["rnn.l0", "rnn.l1", "head"]


def test_frozen_embedding_is_never_unfrozen():
    clf = _classifier(freeze_embeddings=True)
    cb, trainer = GradualUnfreezing(every_steps=1), _fake_trainer(clf)
    cb.on_fit_start(trainer)
    trainer.step = 50
    cb.on_step_end(trainer, 50, {})
    assert not clf.embedding.weight.requires_grad
    assert all(p.requires_grad for n, p in clf.named_parameters() if not n.startswith("embedding"))


@pytest.mark.parametrize("kwargs", [{}, {"every_steps": 2, "every_epochs": 1}, {"every_steps": 0}])
def test_gradual_unfreezing_needs_one_schedule(kwargs):
    with pytest.raises(ConfigError, match="exactly one"):
        GradualUnfreezing(**kwargs)


class _Batches:
    """The Batches protocol over a fixed list of classification batches."""

    def __init__(self, batches: list[ClassificationBatch]) -> None:
        self.batches, self.pos = batches, 0

    def __len__(self) -> int:
        return len(self.batches)

    def set_epoch(self, epoch: int) -> None:
        self.pos = 0

    def __iter__(self) -> Iterator[ClassificationBatch]:
        while self.pos < len(self.batches):
            self.pos += 1
            yield self.batches[self.pos - 1]

    def state_dict(self) -> dict[str, Any]:
        return {"pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pos = state["pos"]


def test_gradual_unfreezing_with_the_real_trainer(tmp_path):
    from textseq.train.config import TrainConfig
    from textseq.train.trainer import Trainer

    clf = _classifier(num_layers=1)
    init_from_lm(clf, _lm(num_layers=1))
    emb_before, rnn_before = clf.embedding.weight.detach().clone(), clf.rnn.weight_hh_l0.detach().clone()
    gen = torch.Generator().manual_seed(0)
    batches = [ClassificationBatch(torch.randint(0, V, (4, 6), generator=gen), torch.tensor([6, 3, 5, 1]),
                                   torch.tensor([0, 1, 1, 0])) for _ in range(2)]
    cfg = TrainConfig(max_steps=5, eval_every=100, log_every=1, tensorboard=False, device="cpu",
                      optimizer={"weight_decay": 0.01})
    cb = GradualUnfreezing(every_steps=2)
    snapshots = []

    class Snap(Callback):  # records the weights after each step
        def on_step_end(self, trainer, step, logs):
            snapshots.append((step, clf.embedding.weight.detach().clone(), clf.rnn.weight_hh_l0.detach().clone()))

    Trainer(clf, cfg, _Batches(batches), tmp_path / "run", callbacks=[Snap(), cb], progress=False).fit()
    assert cb.history == [(0, "head"), (2, "rnn.l0"), (4, "embedding")]
    by_step = {s: (e, r) for s, e, r in snapshots}
    # steps 1-2 train the head only (no weight decay either: frozen params have no grad), step 3 the encoder too
    assert torch.equal(by_step[2][1], rnn_before) and not torch.equal(by_step[3][1], rnn_before)
    assert torch.equal(by_step[4][0], emb_before) and not torch.equal(by_step[5][0], emb_before)


def test_an_adaptive_softmax_lm_transfers_its_embedding_and_encoder():
    lm = _lm(softmax="adaptive", tie_weights=False, adaptive_cutoffs=[5, 10], adaptive_div=2.0)
    clf = _classifier(bidirectional=False)
    report = init_from_lm(clf, lm)
    torch.testing.assert_close(clf.embedding.weight, lm.embedding.weight, atol=0, rtol=0)
    for name, p in clf.rnn.named_parameters():
        torch.testing.assert_close(p, lm.rnn.state_dict()[name], atol=0, rtol=0)
    assert len(report.copied) == 1 + 4 * L


@pytest.mark.parametrize("cell", ["mingru", "minlstm", "lstm_ln", "ode_rnn"])
def test_new_cells_transfer_their_stack(cell):
    lm, clf = _lm(cell=cell).eval(), _classifier(cell=cell, bidirectional=True).eval()
    report = init_from_lm(clf, lm)
    assert all(f"rnn.{name}" in report.copied for name in clf.rnn.state_dict() if not name.endswith("_reverse"))
    ids = torch.randint(0, V, (2, 5))
    lm_out, _ = lm.rnn(lm.embedding(ids))  # (B, T, H)
    clf_out, _ = clf.rnn(clf.embedding(ids))  # (B, T, 2H); forward features first
    torch.testing.assert_close(clf_out[..., :H], lm_out, atol=1e-6, rtol=0)


def test_residual_stack_transfers_to_a_unidirectional_classifier_only():
    lm = _lm(cell="mingru", block="residual").eval()
    clf = _classifier(cell="mingru", block="residual", bidirectional=False).eval()
    init_from_lm(clf, lm)
    ids = torch.randint(0, V, (2, 5))
    torch.testing.assert_close(clf.rnn(clf.embedding(ids))[0], lm.rnn(lm.embedding(ids))[0], atol=1e-6, rtol=0)
    with pytest.raises(ConfigError, match="unidirectional classifier only"):
        init_from_lm(_classifier(cell="mingru", block="residual"), lm)
    with pytest.raises(ConfigError, match="block: LM stack vs classifier residual"):
        init_from_lm(_classifier(cell="mingru", block="residual", bidirectional=False), _lm(cell="mingru"))
