"""memsim.torch: analog torch layers on tiles, AnalogSGD, conversion, implicit penalty, digital twin."""

import math
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from memsim.models.tile import Tile  # noqa: E402
from memsim.physics.devices import SoftBounds  # noqa: E402
from memsim.torch import (AnalogConv2d, AnalogLinear, AnalogSGD, TikhonovSGD, convert_to_analog,  # noqa: E402
                          digital_twin, implicit_penalty, start_recording)

DEVICE = SoftBounds(dw_min=0.001, dw_min_std=0.3)
ASYM = SoftBounds(dw_min=0.001, dw_min_std=0.3, up_down=0.3)  # symmetry point w_s != 0


@pytest.fixture(autouse=True, scope="module")
def one_thread_each():
    """torch and numba each run an OpenMP pool; on a small shared machine their spin-waits collide
    (10-50x slower). Results never depend on the thread counts."""
    from memsim.backends.numba.threads import get_num_threads, set_num_threads

    before = torch.get_num_threads(), get_num_threads()
    torch.set_num_threads(1)
    set_num_threads(1)
    yield
    torch.set_num_threads(before[0])
    set_num_threads(before[1])


def _aug(x):
    x = np.asarray(x, dtype=np.float64)
    return np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)


# --------------------------------------------------------------------------- 1. AnalogSGD == Tile.update
@pytest.mark.parametrize("accumulate", [False, True])
def test_analog_sgd_is_bit_identical_to_tile_updates(accumulate):
    torch.manual_seed(0)
    layer = AnalogLinear(5, 3, device=DEVICE, seed=11).double()
    tile = Tile(3, 6, DEVICE, seed=11)
    tile.program(np.concatenate([layer.weight.numpy(), layer.bias.numpy()[:, None]], axis=1))
    initial = tile.weights
    assert np.array_equal(tile.weights, layer.tile.weights)
    opt = AnalogSGD(layer, lr=0.2, accumulate=accumulate)
    g = torch.Generator().manual_seed(1)
    for _ in range(6):
        x = torch.randn(4, 5, generator=g, dtype=torch.float64)
        t = torch.randn(4, 3, generator=g, dtype=torch.float64)
        opt.zero_grad()
        F.mse_loss(layer(x), t).backward()  # mean reduction
        opt.step()
        # by hand: d = dL/dy of the mean-reduced loss at the tile's read
        y = torch.from_numpy(tile.forward(_aug(x.numpy()))).requires_grad_()
        F.mse_loss(y, t).backward()
        tile.update(_aug(x.numpy()), y.grad.numpy(), 0.2, accumulate=accumulate)
        assert np.array_equal(layer.tile.weights, tile.weights)
    assert layer.tile.step == tile.step == (6 if accumulate else 24)
    assert np.abs(layer.tile.weights - initial).max() > 0.01  # the weights did move


def test_requested_update_is_torch_sgd_step():
    """The kept rows request exactly -lr * dL/dW of torch's SGD on the same nn.Linear and loss."""
    torch.manual_seed(2)
    layer = AnalogLinear(4, 2, device=DEVICE).double()
    lin = nn.Linear(4, 2).double()
    lin.load_state_dict(layer.state_dict())
    x, t = torch.randn(8, 4, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)
    F.mse_loss(layer(x), t).backward()
    F.mse_loss(lin(x), t).backward()
    (a, d), = layer.kept
    requested = -0.1 * d.T @ a
    before = np.concatenate([lin.weight.detach().numpy(), lin.bias.detach().numpy()[:, None]], axis=1)
    torch.optim.SGD(lin.parameters(), lr=0.1).step()
    after = np.concatenate([lin.weight.detach().numpy(), lin.bias.detach().numpy()[:, None]], axis=1)
    np.testing.assert_allclose(requested, after - before, rtol=1e-12, atol=1e-15)


def test_digital_parameters_get_plain_sgd_and_zero_grad_clears():
    torch.manual_seed(3)
    model = nn.Sequential(AnalogLinear(3, 4, device=DEVICE), nn.LayerNorm(4)).double()
    ref = nn.LayerNorm(4).double()
    ref.load_state_dict(model[1].state_dict())
    opt = AnalogSGD(model, lr=0.3)
    x = torch.randn(5, 3, dtype=torch.float64)
    h = model[0](x).detach()
    model[1](model[0](x)).pow(2).sum().backward()
    ref(h).pow(2).sum().backward()
    opt.step()
    torch.optim.SGD(ref.parameters(), lr=0.3).step()
    assert torch.allclose(model[1].weight, ref.weight, rtol=0, atol=1e-14)
    assert len(model[0].kept) == 1
    opt.zero_grad()
    assert model[0].kept == [] and model[1].weight.grad is None
    with torch.no_grad():  # an evaluation read keeps nothing
        model(x)
    assert model[0].kept == []


def test_state_dict_round_trip_with_plain_layers():
    torch.manual_seed(4)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    analog = convert_to_analog(conv, device=DEVICE)
    assert isinstance(analog, AnalogConv2d)
    sd = analog.state_dict()
    assert set(sd) == {"weight", "bias"} and sd["weight"].shape == conv.weight.shape
    torch.testing.assert_close(sd["weight"], conv.weight.detach(), rtol=0, atol=1e-7)
    fresh = AnalogConv2d(2, 3, 3, padding=1, device=DEVICE)
    fresh.load_state_dict(conv.state_dict())
    np.testing.assert_array_equal(fresh.tile.weights, analog.tile.weights)


# --------------------------------------------------------------------------- 2. AnalogConv2d
@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 0)])
def test_conv_forward_and_input_gradient_are_the_tile_reads(stride, padding):
    torch.manual_seed(5)
    conv = AnalogConv2d(2, 3, 3, stride=stride, padding=padding, device=DEVICE, seed=3).double()
    x = torch.randn(2, 2, 6, 5, dtype=torch.float64, requires_grad=True)
    y = conv(x)
    cols = F.unfold(x.detach(), 3, padding=padding, stride=stride)  # (B, 18, L)
    L = cols.shape[2]
    patches = _aug(cols.transpose(1, 2).reshape(-1, 18).numpy())
    ho, wo = y.shape[2:]
    expected = conv.tile.forward(patches).reshape(2, L, 3).transpose(0, 2, 1).reshape(2, 3, ho, wo)
    assert np.array_equal(y.detach().numpy(), expected)
    upstream = torch.randn(y.shape, dtype=torch.float64)
    y.backward(upstream)
    d = upstream.permute(0, 2, 3, 1).reshape(-1, 3).numpy()
    z = torch.from_numpy(conv.tile.backward(d)[:, :18]).reshape(2, L, 18).transpose(1, 2)
    expected_grad = F.fold(z, (6, 5), 3, padding=padding, stride=stride)
    torch.testing.assert_close(x.grad, expected_grad, rtol=1e-13, atol=1e-13)
    (a, dk), = conv.kept
    assert np.array_equal(a, patches) and np.array_equal(dk, d)


# --------------------------------------------------------------------------- 3. digital twin
def _small_trained_model(device, steps=30):
    torch.manual_seed(6)
    net = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)).double()
    model = convert_to_analog(net, device=device, seed=2)
    opt = AnalogSGD(model, lr=0.1, record_from=5)
    g = torch.Generator().manual_seed(7)
    for _ in range(steps):
        x = torch.randn(4, 4, generator=g, dtype=torch.float64)
        t = torch.randn(4, 2, generator=g, dtype=torch.float64)
        opt.zero_grad()
        F.mse_loss(model(x), t).backward()
        opt.step()
    return model


@pytest.mark.parametrize("decay", ["per_weight", "global"])
def test_digital_twin_applies_the_tikhonov_update(decay):
    model = _small_trained_model(ASYM)
    pen = implicit_penalty(model)
    assert set(pen) == {"0", "2"}
    for name, entry in pen.items():
        assert entry["steps"] == 25 and entry["events"] == 100
        assert np.all(entry["lambda"] > 0) and entry["lambda_mean"] > 0
        assert np.all(np.abs(entry["symmetry_points"]) > 0.05)  # up_down = 0.3: w_s != 0
    twin, opt = digital_twin(model, lr=0.05, decay=decay)
    assert isinstance(opt, torch.optim.Optimizer) and isinstance(twin[0], nn.Linear)
    for k in (0, 2):
        np.testing.assert_array_equal(twin[k].weight.detach().numpy(), model[k].tile.weights[:, :-1])
        np.testing.assert_array_equal(twin[k].bias.detach().numpy(), model[k].tile.weights[:, -1])
    # independent implementation: plain autograd gradients, update written out in NumPy
    ref = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)).double()
    ref.load_state_dict(twin.state_dict())
    W = {k: np.concatenate([ref[k].weight.detach().numpy(), ref[k].bias.detach().numpy()[:, None]], 1) for k in (0, 2)}
    lam = {k: pen[str(k)]["lambda"] if decay == "per_weight" else np.full((W[k].shape), pen.global_mean)
           for k in (0, 2)}
    ws = {k: pen[str(k)]["symmetry_points"] for k in (0, 2)}
    g = torch.Generator().manual_seed(8)
    for _ in range(5):
        x = torch.randn(4, 4, generator=g, dtype=torch.float64)
        t = torch.randn(4, 2, generator=g, dtype=torch.float64)
        opt.zero_grad()
        F.mse_loss(twin(x), t).backward()
        opt.step()
        with torch.no_grad():
            for k in (0, 2):
                ref[k].weight.copy_(torch.from_numpy(W[k][:, :-1]))
                ref[k].bias.copy_(torch.from_numpy(W[k][:, -1]))
        ref.zero_grad()
        F.mse_loss(ref(x), t).backward()
        for k in (0, 2):
            G = np.concatenate([ref[k].weight.grad.numpy(), ref[k].bias.grad.numpy()[:, None]], 1)
            W[k] = W[k] - 0.05 * (G + lam[k] * (W[k] - ws[k]))
    for k in (0, 2):
        got = np.concatenate([twin[k].weight.detach().numpy(), twin[k].bias.detach().numpy()[:, None]], 1)
        np.testing.assert_allclose(got, W[k], rtol=1e-13, atol=1e-15)


def test_tikhonov_sgd_without_decay_is_sgd():
    torch.manual_seed(9)
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    x = torch.randn(5, 3)
    a(x).sum().backward()
    b(x).sum().backward()
    TikhonovSGD(a.parameters(), lr=0.1).step()
    torch.optim.SGD(b.parameters(), lr=0.1).step()
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)


def test_implicit_penalty_needs_a_recorded_window():
    layer = AnalogLinear(2, 1, device=DEVICE)
    with pytest.raises(ValueError, match="start_recording"):
        implicit_penalty(layer)
    start_recording(layer)
    with pytest.raises(ValueError, match="recorded none"):
        implicit_penalty(layer)


# --------------------------------------------------------------------------- 4. batch-size invariance
def _penalty_run(seed: int, batch: int, per_sample_lr: float, epochs: int = 24) -> float:
    gen = np.random.default_rng(100 + seed)
    n, d = 48, 4
    X = gen.standard_normal((n, d))
    y = X @ np.array([0.4, -0.3, 0.2, 0.0]) + 0.3 * gen.standard_normal(n)
    X, y = torch.from_numpy(X), torch.from_numpy(y[:, None])
    torch.manual_seed(seed)
    layer = AnalogLinear(d, 1, device=DEVICE, seed=seed).double()
    layer.program_weights(torch.zeros(1, d), torch.zeros(1))
    steps_per_epoch = n // batch
    opt = AnalogSGD(layer, lr=per_sample_lr * batch, record_from=(epochs // 2) * steps_per_epoch)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(n, generator=g)
        for k in range(steps_per_epoch):
            idx = order[k * batch:(k + 1) * batch]
            opt.zero_grad()
            F.mse_loss(layer(X[idx]), y[idx]).backward()
            opt.step()
    return implicit_penalty(layer).global_mean


def test_penalty_does_not_depend_on_the_batch_size_at_the_same_per_sample_step():
    """Mean-reduced loss: each per-sample event carries its 1/B share; lambda is per optimizer step.
    Batch 4 with lr 4*eta and batch 1 with lr eta make the same per-sample steps and must give the
    same penalty (z-test over seeds, 4 standard errors); the per-event normalization would not."""
    seeds = range(6)
    one = np.array([_penalty_run(s, 1, 0.02) for s in seeds])
    four = np.array([_penalty_run(s, 4, 0.02) for s in seeds])
    assert np.all(one > 0) and np.all(four > 0)
    # each seed is one data set, tile seed and order for both batch sizes: z-test on the paired differences
    diff = one - four
    se = diff.std(ddof=1) / math.sqrt(len(diff))
    assert abs(diff.mean()) <= 4 * se, (one, four)
    assert se < 0.05 * one.mean()  # the band is narrow: a tenth of lambda is well outside it
    # power: the per-event normalization (4x smaller for batch 4) is far outside the band
    wrong = one - four / 4
    assert abs(wrong.mean()) > 4 * wrong.std(ddof=1) / math.sqrt(len(wrong))


# --------------------------------------------------------------------------- 5. digits conv net
def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    sd[sd == 0] = 1.0
    f = lambda A: torch.tensor((A - mu) / sd, dtype=torch.float32).reshape(-1, 1, 8, 8)  # noqa: E731
    return f(Xtr), f(Xte), torch.tensor(ytr), torch.tensor(yte)


def test_digits_conv_net_trains_in_place_and_its_twin_follows():
    start = time.perf_counter()
    Xtr, Xte, ytr, yte = _digits()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(96, 10))
    analog = convert_to_analog(net, device=SoftBounds(dw_min=0.002, dw_min_std=0.3), seed=0)
    initial = analog.state_dict()
    lr, batch, epochs = 0.1, 16, 5
    steps = math.ceil(len(Xtr) / batch)
    g = torch.Generator().manual_seed(1)
    orders = [torch.randperm(len(Xtr), generator=g) for _ in range(epochs)]

    def train(model, opt):
        for order in orders:
            for k in range(steps):
                idx = order[k * batch:(k + 1) * batch]
                opt.zero_grad()
                F.cross_entropy(model(Xtr[idx]), ytr[idx]).backward()
                opt.step()

    train(analog, AnalogSGD(analog, lr=lr, record_from=steps))  # window: epochs 2..5
    with torch.no_grad():
        out = analog(Xte)
    assert (out.argmax(1) == yte).float().mean().item() >= 0.85
    pen = implicit_penalty(analog)
    assert pen.global_mean > 0
    final = analog.state_dict()
    dist = {}
    for decay in ("per_weight", "none"):
        twin, opt = digital_twin(analog, lr=lr, decay=decay, penalty=pen)
        twin.load_state_dict(initial)
        train(twin, opt)
        with torch.no_grad():
            out_twin = twin(Xte)
        sd = twin.state_dict()
        dist[decay] = (math.sqrt(sum(float(((sd[k] - final[k]) ** 2).sum()) for k in final)),
                       float((out_twin - out).pow(2).mean().sqrt()))
    assert dist["per_weight"][0] < 0.6 * dist["none"][0], dist  # weights
    assert dist["per_weight"][1] < 0.6 * dist["none"][1], dist  # outputs
    assert time.perf_counter() - start < 60


# --------------------------------------------------------------------------- 6. import, clipping
def test_import_memsim_does_not_import_torch():
    code = "import memsim, memsim.models.tile, memsim.analysis.penalty, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_convert_warns_naming_the_clipped_layer():
    net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2))
    with torch.no_grad():
        net[2].weight.fill_(0.5)
        net[2].weight[0, 0] = 3.0  # 1 of 6 cells outside [-1, 1]
    with pytest.warns(UserWarning, match=r"layer '2' \(Linear\): 16\.7% of its weights"):
        analog = convert_to_analog(net, device=DEVICE)
    assert analog[2].tile.weights[0, 0] == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        convert_to_analog(nn.Sequential(nn.Linear(3, 2)), device=DEVICE)  # nothing clipped: no warning


def test_convert_seeds_layers_and_leaves_the_original_alone():
    from memsim.models.layers import tile_seed

    torch.manual_seed(10)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3))
    state = torch.random.get_rng_state()
    analog = convert_to_analog(net, device=DEVICE, seed=5)
    assert torch.equal(state, torch.random.get_rng_state())  # conversion draws nothing from torch
    assert isinstance(net[0], nn.Conv2d) and isinstance(analog[0], AnalogConv2d)
    assert [analog[0].tile.seed, analog[2].tile.seed] == [tile_seed(5, 0), tile_seed(5, 1)]
    x = torch.randn(3, 1, 4, 4)
    torch.testing.assert_close(analog(x), net(x), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- GPU (best effort)
@pytest.mark.gpu
def test_cuda_tensors_reach_the_cupy_backend():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device for torch")
    pytest.importorskip("cupy")
    torch.manual_seed(11)
    cpu = AnalogLinear(6, 4, device=DEVICE, seed=1).double()
    gpu = AnalogLinear(6, 4, device=DEVICE, seed=1, backend="cupy").double()
    gpu.load_state_dict(cpu.state_dict())
    x = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    xc = x.detach().cuda().requires_grad_()
    y, yc = cpu(x), gpu(xc)
    assert yc.is_cuda
    torch.testing.assert_close(yc.cpu(), y, rtol=1e-12, atol=1e-12)
    y.sum().backward()
    yc.sum().backward()
    torch.testing.assert_close(xc.grad.cpu(), x.grad, rtol=1e-12, atol=1e-12)
