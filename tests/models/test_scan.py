"""minGRU / minLSTM: the log-space parallel scan, the fused sequential scan and the plain loop agree
(outputs, final state, gradients) in float64, and a long sequence equals its windows with the state carried."""

import pytest
import torch

from textseq.models.scan import MinGRU, MinLSTM, g, log_g, parallel_scan_log, sequential_scan

CLASSES = {"mingru": MinGRU, "minlstm": MinLSTM}


def _model(kind, layers=2, bidirectional=False, seed=0):
    torch.manual_seed(seed)
    return CLASSES[kind](5, 4, layers, bidirectional=bidirectional).double()


def _run(model, scan, x, h0):
    model.scan = scan
    x = x.clone().requires_grad_()
    h0 = None if h0 is None else h0.clone().requires_grad_()
    out, h_n = model(x, h0)
    loss = (out * torch.linspace(-1, 1, out.size(-1), dtype=out.dtype)).sum() + (h_n ** 2).sum()
    params = [p for p in model.parameters()]
    grads = torch.autograd.grad(loss, [x, *params] + ([h0] if h0 is not None else []))
    return out.detach(), h_n.detach(), grads


@pytest.mark.parametrize("kind", sorted(CLASSES))
@pytest.mark.parametrize("steps", [1, 7, 1024])
@pytest.mark.parametrize("carried", [False, True])
def test_scans_equal_the_loop(kind, steps, carried):
    model = _model(kind, bidirectional=steps == 7)
    torch.manual_seed(1)
    x = torch.randn(2, steps, 5, dtype=torch.float64) * 2
    h0 = torch.rand(model.num_layers * model.num_directions, 2, 4, dtype=torch.float64) + 0.1 if carried else None
    ref = _run(model, "loop", x, h0)
    for scan in ("log", "sequential"):
        out, h_n, grads = _run(model, scan, x, h0)
        torch.testing.assert_close(out, ref[0], rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(h_n, ref[1], rtol=1e-9, atol=1e-9)
        for got, want in zip(grads, ref[2]):
            torch.testing.assert_close(got, want, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("kind", sorted(CLASSES))
@pytest.mark.parametrize("scan", ["log", "sequential"])
def test_one_long_sequence_equals_its_windows_with_the_state_carried(kind, scan):
    model = _model(kind)
    model.scan = scan
    x = torch.randn(3, 300, 5, dtype=torch.float64)
    whole, h_whole = model(x)
    state, parts = None, []
    for window in x.split(64, dim=1):  # 64, 64, 64, 64, 44
        out, state = model(window, state)
        parts.append(out)
    torch.testing.assert_close(torch.cat(parts, dim=1), whole, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(state, h_whole, rtol=1e-10, atol=1e-12)


def test_log_scan_is_the_linear_recurrence_and_stays_finite_over_long_windows():
    torch.manual_seed(0)
    a = torch.rand(2, 4096, 3, dtype=torch.float64) * 0.5  # products underflow after a few hundred steps
    b = torch.rand(2, 4096, 3, dtype=torch.float64)
    h0 = torch.rand(2, 3, dtype=torch.float64)
    h, want = h0, []
    for t in range(a.size(1)):
        h = a[:, t] * h + b[:, t]
        want.append(h)
    got = parallel_scan_log(a.log(), b.log(), h0.log()).exp()
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, torch.stack(want, 1), rtol=1e-9, atol=0)
    torch.testing.assert_close(sequential_scan(a, b, h0), torch.stack(want, 1), rtol=1e-12, atol=0)


def test_sequential_scan_gradient_matches_gradcheck():
    torch.manual_seed(0)
    a, b = torch.rand(2, 6, 3, dtype=torch.float64), torch.randn(2, 6, 3, dtype=torch.float64)
    h0 = torch.randn(2, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(sequential_scan, [t.requires_grad_() for t in (a, b, h0)])


def test_g_is_positive_continuous_and_log_g_is_its_log():
    x = torch.linspace(-30, 30, 601, dtype=torch.float64)
    assert (g(x) > 0).all()
    torch.testing.assert_close(log_g(x), g(x).log())
    torch.testing.assert_close(g(torch.tensor([0.0], dtype=torch.float64)), torch.tensor([0.5], dtype=torch.float64))


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_padded_rows_see_no_padding(kind):
    """With lengths, each row's outputs and final state (both directions) are those of the unpadded row."""
    model = _model(kind, bidirectional=True)
    torch.manual_seed(2)
    x = torch.randn(2, 6, 5, dtype=torch.float64)
    lengths = torch.tensor([6, 3])
    for scan in ("log", "sequential", "loop"):
        model.scan = scan
        out, h_n = model(x, lengths=lengths)
        alone, h_alone = model(x[1:, :3])
        torch.testing.assert_close(out[1:, :3], alone)
        torch.testing.assert_close(h_n[:, 1:], h_alone)


def test_bf16_autocast_keeps_the_scan_in_float32():
    model = MinGRU(5, 4, 1)
    x = torch.randn(2, 50, 5)
    ref, _ = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for scan in ("log", "sequential"):
            model.scan = scan
            out, h_n = model(x)
            assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
            torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.05)


def test_fused_mingru_scan_gradient_matches_gradcheck():
    from textseq.models.scan import _MinGRUSequential

    torch.manual_seed(0)
    k, v = torch.randn(2, 5, 3, dtype=torch.float64), torch.randn(2, 5, 3, dtype=torch.float64)
    h0 = torch.rand(2, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(_MinGRUSequential.apply, [t.requires_grad_() for t in (k, v, h0)])
