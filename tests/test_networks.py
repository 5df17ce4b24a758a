"""Networks on tiles: losses and back-propagation, tile splitting, training, digital baselines, the network runner."""

import json
import math

import numpy as np
import pytest

from memsim import ConstantStep, SoftBounds, Tile
from memsim.tasks.classification import DigitsTask, TeacherClassificationTask
from memsim.workflows.config import resolve_config
from memsim.compare.digital import (fit_weight_decay, logistic_regression, penalty_matrices, softmax_regression,
                                     train_digital)
from memsim.errors import ConfigError
from memsim.errors import ConvergenceError
from memsim.models.layers import TiledLinear, tile_seed
from memsim.models.mlp import AnalogMLP
from memsim.network_math import LOSSES, loss_and_gradients, mlp_backward, mlp_forward
from memsim.workflows.io import to_jsonable
from memsim.workflows.run import run, run_summary, summary_lines
from memsim.models.train import TrainConfig, epoch_orders, initial_weights, learning_rates, train
from memsim.physics.updates import Deterministic

IDEAL = ConstantStep(dw_min=1e-4, w_max=10.0)  # no state dependence, no noise: stochastic rounding only


# ---------------------------------------------------------------------------- losses and gradients
def _fd(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


@pytest.mark.parametrize("name", ["softmax", "logistic", "mse"])
def test_loss_gradients_match_finite_differences(name):
    g = np.random.default_rng(0)
    loss = LOSSES[name]
    k = 1 if name == "logistic" else 4
    out = 3 * g.normal(size=(5, k))
    labels = g.integers(0, 2 if name == "logistic" else 4, size=5)
    t = loss.targets(labels, 2 if name == "logistic" else 4)
    for b in range(5):
        fd = _fd(lambda o: loss.value(o[None, :], t[b:b + 1])[0], out[b])
        np.testing.assert_allclose(loss.grad(out[b:b + 1], t[b:b + 1])[0], fd, rtol=1e-6, atol=1e-8)
    assert np.all(np.isfinite(loss.value(1e4 * out, t)))  # stable for huge logits


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
@pytest.mark.parametrize("loss,k", [("softmax", 3), ("logistic", 1), ("mse", 3)])
def test_network_gradients_match_finite_differences(activation, loss, k):
    g = np.random.default_rng(1)
    X = g.normal(size=(7, 4))
    labels = g.integers(0, 2 if loss == "logistic" else 3, size=7)
    T = LOSSES[loss].targets(labels, 2 if loss == "logistic" else 3)
    W = [0.7 * g.normal(size=(5, 5)), 0.7 * g.normal(size=(k, 6))]
    _, grads = loss_and_gradients(W, X, T, loss, activation, bias=True)
    for layer in range(2):
        def f(w, layer=layer):
            Ws = [w if j == layer else W[j] for j in range(2)]
            return loss_and_gradients(Ws, X, T, loss, activation, bias=True)[0]
        np.testing.assert_allclose(grads[layer], _fd(f, W[layer]), rtol=1e-5, atol=1e-8)


def test_softmax_and_logistic_objectives_gradients_match_finite_differences():
    """The exact baselines' analytic gradients (checked through their optimality and a penalised objective)."""
    data = TeacherClassificationTask(n_train=80, n_features=3, n_classes=3, seed=2).load(0)
    lam = np.array([[0.1, 0.2, 0.3]] * 3)
    r = softmax_regression(data.X_train, data.y_train, lam, n_classes=3, w_s=0.05)
    W, c = r["coef"], r["intercept"]

    def objective(theta):
        Wt, ct = theta[:9].reshape(3, 3), theta[9:]
        Z = data.X_train @ Wt.T + ct
        lse = np.log(np.exp(Z).sum(axis=1))
        return np.mean(lse - Z[np.arange(80), data.y_train]) + 0.5 * np.sum(lam * (Wt - 0.05) ** 2)

    np.testing.assert_allclose(_fd(objective, np.concatenate([W.ravel(), c])), 0.0, atol=1e-7)
    assert abs(np.sum(c)) < 1e-8  # the minimum-norm (sum-zero) intercepts
    b = TeacherClassificationTask(n_train=80, n_features=3, seed=2).load(0)
    r = logistic_regression(b.X_train, b.y_train, [0.1, 0.0, 0.2], w_s=-0.1)

    def logistic_objective(theta):
        z = b.X_train @ theta[:3] + theta[3]
        penalty = 0.5 * np.sum(np.array([0.1, 0.0, 0.2]) * (theta[:3] + 0.1) ** 2)
        return np.mean(np.logaddexp(0, z) - b.y_train * z) + penalty

    np.testing.assert_allclose(_fd(logistic_objective, np.append(r["coef"], r["intercept"])), 0.0, atol=1e-7)


def test_exact_classifiers_match_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    data = TeacherClassificationTask(n_train=400, n_features=6, n_classes=4, seed=5).load(0)
    n, lam = len(data.y_train), 0.01
    ours = softmax_regression(data.X_train, data.y_train, lam)
    sk = LogisticRegression(C=1 / (n * lam), tol=1e-12, max_iter=10000).fit(data.X_train, data.y_train)
    np.testing.assert_allclose(ours["coef"], sk.coef_, atol=1e-6)
    np.testing.assert_allclose(ours["intercept"] - ours["intercept"].mean(), sk.intercept_ - sk.intercept_.mean(),
                               atol=1e-6)
    b = TeacherClassificationTask(n_train=300, n_features=5, seed=4).load(0)
    ours = logistic_regression(b.X_train, b.y_train, lam)
    sk = LogisticRegression(C=1 / (300 * lam), tol=1e-12, max_iter=10000).fit(b.X_train, b.y_train)
    np.testing.assert_allclose(ours["coef"], sk.coef_[0], atol=1e-6)
    assert ours["intercept"] == pytest.approx(sk.intercept_[0], abs=1e-6)


def test_separable_data_at_lambda_zero_raise_convergence_error():
    data = TeacherClassificationTask(n_train=40, n_features=5, labels="argmax", seed=3).load(0)
    with pytest.raises(ConvergenceError, match="separable"):
        logistic_regression(data.X_train, data.y_train, 0.0, max_iter=300)
    assert not logistic_regression(data.X_train, data.y_train, 0.0, max_iter=300, strict=False)["converged"]
    assert logistic_regression(data.X_train, data.y_train, 0.01)["converged"]


# ---------------------------------------------------------------------------- tiles
def test_tiled_layer_equals_one_big_tile():
    """Splitting a layer over tiles changes nothing with exact reads, and the same pulses are applied
    (deterministic rounding on a noise-free constant-step device)."""
    g = np.random.default_rng(2)
    dev = ConstantStep(dw_min=1e-3, w_max=2.0)
    rule = Deterministic()
    W = g.uniform(-1, 1, size=(7, 11))  # 10 inputs + bias
    big = TiledLinear(10, 7, device=dev, update=rule, bias=True, seed=3)
    split = TiledLinear(10, 7, device=dev, update=rule, bias=True, max_tile_size=3, seed=3)
    assert big.n_tiles == 1 and split.n_tiles == 3 * 4
    assert [t.rows for t in split.tiles[-1]] == [1] * 4 and [t.cols for t in split.tiles[0]] == [3, 3, 3, 2]
    big.program(W)
    split.program(W)
    np.testing.assert_array_equal(split.weights, big.weights)
    A = np.hstack([g.normal(size=(5, 10)), np.ones((5, 1))])
    D = g.normal(size=(5, 7))
    np.testing.assert_allclose(split.forward(A), big.forward(A), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(split.forward(A), A @ W.T, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(split.backward(D), big.backward(D), rtol=1e-13, atol=1e-13)
    for accumulate in (False, True):
        big.update(A, D, lr=0.01, accumulate=accumulate)
        split.update(A, D, lr=0.01, accumulate=accumulate)
        np.testing.assert_array_equal(split.weights, big.weights)


def test_split_network_outputs_and_backward_equal_the_unsplit_one():
    g = np.random.default_rng(3)
    sizes = [9, 7, 4]
    W = [g.uniform(-0.5, 0.5, size=(7, 10)), g.uniform(-0.5, 0.5, size=(4, 8))]
    nets = [AnalogMLP(sizes, "tanh", device=IDEAL, max_tile_size=m, seed=1) for m in (None, 4)]
    X = g.normal(size=(6, 9))
    outs = []
    for net in nets:
        net.program(W)
        out, cache = net.forward(X, cache=True)
        outs.append((out, net.backward(cache, out)))
    ref_out, ref_cache = mlp_forward(W, X, "tanh", True)
    ref_deltas = mlp_backward(W, ref_cache, ref_out, "tanh", True)
    for out, deltas in outs:
        np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-13)
        for d, r in zip(deltas, ref_deltas):
            np.testing.assert_allclose(d, r, rtol=1e-12, atol=1e-13)


def test_tile_seeds_are_distinct_and_documented():
    net = AnalogMLP([70, 40, 3], device=IDEAL, max_tile_size=32, seed=5)
    seeds = [t.seed for t in net.tiles]
    assert len(net.tiles) == 2 * 3 + 1 * 2 and len(set(seeds)) == len(seeds)
    assert net.layers[0].tiles[1][2].seed == tile_seed(5, 0, 1, 2)
    expected = int(np.random.SeedSequence(5, spawn_key=(1, 0, 1)).generate_state(1, np.uint64)[0])
    assert net.layers[1].tiles[0][1].seed == expected
    assert tile_seed(6, 0, 1, 2) != tile_seed(5, 0, 1, 2)


def test_classifier_on_one_tile_programs_the_rank1_updates_of_analog_linear(backend):
    """A one-layer network's update of a batch equals Tile.update(X_batch, D_batch) on the same tile (a network
    of a single tile keys it with the run seed itself)."""
    g = np.random.default_rng(4)
    dev = SoftBounds(dw_min=0.001, dw_min_std=0.3)
    X, labels = g.normal(size=(6, 3)), g.integers(0, 3, size=6)
    clf = AnalogMLP([3, 3], device=dev, bias=True, seed=9, backend=backend)
    tile = Tile(3, 4, dev, seed=9, backend=backend)
    loss = LOSSES["softmax"]
    out = clf.train_batch(X, lambda o: loss.grad(o, labels), lr=0.05)
    Xa = np.hstack([X, np.ones((6, 1))])
    tile.update(Xa, loss.grad(tile.forward(Xa), labels), lr=0.05)
    np.testing.assert_allclose(out, 0.0)
    np.testing.assert_array_equal(clf.weights[0], tile.weights)


def test_reads_go_through_each_tiles_periphery():
    """With output noise, forward and backward differ from the exact maths, and every tile reads."""
    from memsim.physics.periphery import Periphery

    g = np.random.default_rng(5)
    W = [g.uniform(-0.5, 0.5, size=(5, 4)), g.uniform(-0.5, 0.5, size=(2, 6))]
    net = AnalogMLP([3, 5, 2], device=IDEAL, periphery=Periphery(output_noise=0.1), max_tile_size=3, seed=1)
    net.program(W)
    X = g.normal(size=(4, 3))
    out, cache = net.forward(X, cache=True)
    deltas = net.backward(cache, np.ones_like(out))
    ref_out, ref_cache = mlp_forward(W, X, "tanh", True)
    assert 0 < np.max(np.abs(out - ref_out)) < 1.0
    assert np.max(np.abs(deltas[0] - mlp_backward(W, ref_cache, np.ones_like(out))[0])) > 0
    assert all(t.read_step >= 1 for t in net.tiles)


# ---------------------------------------------------------------------------- training
def test_window_statistics_and_curves():
    data = TeacherClassificationTask(n_train=30, n_test=20, n_features=4, n_classes=3, seed=1).load(0)
    net = AnalogMLP([4, 5, 3], device=SoftBounds(dw_min=0.002), seed=2)
    cfg = TrainConfig(lr=0.05, epochs=3, batch_size=4, average_from=0.4)
    r = train(net, data, cfg, seed=2, loss="softmax", progress=False)
    # Window: the first batch whose first event index reaches ceil(0.4 * 90) = 36 starts at event 38.
    assert [s["events"] for s in r.statistics] == [90 - 38] * 2
    assert net.step == 90
    for s, W in zip(r.statistics, r.weights_final):
        assert s["mean_abs_grad"].shape == W.shape and s["mean_abs_grad_w"].shape == W.shape
        assert np.all(s["mean_abs_grad"] > 0)
    assert set(r.curves) == {"epoch", "train_loss", "test_loss", "train_accuracy", "test_accuracy"}
    assert len(r.curves["test_accuracy"]) == 3 and 0 <= r.curves["test_accuracy"][-1] <= 1
    acc = train(AnalogMLP([4, 5, 3], device=SoftBounds(dw_min=0.002), seed=2), data,
                        TrainConfig(lr=0.05, epochs=3, batch_size=4, accumulate=True), seed=2, progress=False)
    assert acc.statistics[0]["events"] == 24 - 12  # 8 events per epoch, window from event ceil(0.5 * 24)


def test_digital_mlp_averaging_shortcut_equals_the_per_sample_loop():
    """Without decay the per-batch closed form of the averaged weights is the per-sample loop's."""
    data = TeacherClassificationTask(n_train=40, n_features=4, n_classes=3, seed=1).load(0)
    W0 = initial_weights([4, 6, 3], True, seed=3)
    common = dict(loss="softmax", n_classes=3, lrs=0.05, permutations=epoch_orders(3, 40, 4), batch_size=8,
                  average_from=0.3)
    fast = train_digital(W0, data.X_train, data.y_train, **common)
    loop = train_digital(W0, data.X_train, data.y_train, weight_decay=[1e-300, 1e-300], **common)
    for a, b in zip(fast["weights_mean"] + fast["weights_final"], loop["weights_mean"] + loop["weights_final"]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_ideal_device_and_digital_mlp_reach_the_same_digits_accuracy():
    """Same data order, same initial weights: an ideal device (constant step 1e-4, no noise,
    stochastic rounding) trains the MLP as digital SGD does, to within 1 % test accuracy."""
    data = DigitsTask(seed=0).load(0)
    cfg = TrainConfig(lr=0.02, epochs=4, batch_size=1, average_from=0.5)
    net = AnalogMLP([64, 16, 10], "tanh", device=IDEAL, seed=11)
    r = train(net, data, cfg, seed=11, loss="softmax", progress=False)
    d = train_digital(r.initial_weights, data.X_train, data.y_train, loss="softmax", n_classes=10,
                          lrs=learning_rates(cfg), permutations=r.orders, average_from=0.5,
                          X_test=data.X_test, y_test=data.y_test)
    analog_final = r.curves["test_accuracy"][-1]
    digital_final = d["curves"]["test_accuracy"][-1]
    assert analog_final > 0.9
    assert abs(analog_final - digital_final) <= 0.01
    from memsim.network_math import evaluate

    a_mean = evaluate(r.weights_mean, data.X_test, data.y_test, "softmax", n_classes=10)[1]
    d_mean = evaluate(d["weights_mean"], data.X_test, data.y_test, "softmax", n_classes=10)[1]
    assert abs(a_mean - d_mean) <= 0.01


def test_ideal_device_logistic_regression_matches_the_exact_optimum():
    """Time-averaged weights of an ideal device -> the exact unpenalised logistic optimum, within 4 standard
    errors over 16 seeds.

    Each epoch is one batch of all n samples, programmed as n per-sample rank-1 events at the weights of
    the epoch start: the full gradient, so digital SGD's own O(lr) bias of the mean (random reshuffling,
    the curvature of the loss) is absent and a deviation would be the device's. The data order still
    varies by seed (the weights inside an epoch walk along the partial sums), and stochastic rounding
    adds its noise; both average out.
    """
    data = TeacherClassificationTask(n_train=200, n_test=10, n_features=3, teacher_std=2.0, seed=7).load(0)
    opt = logistic_regression(data.X_train, data.y_train, 0.0)
    w_opt = np.append(opt["coef"], opt["intercept"])
    means = []
    for seed in range(16):
        clf = AnalogMLP([3, 1], device=IDEAL, bias=True, seed=100 + seed)
        r = train(clf, data, TrainConfig(lr=0.01, epochs=1000, batch_size=200), seed=100 + seed,
                          loss="logistic", progress=False)
        means.append(r.weights_mean[0][0])
    means = np.array(means)
    standard_error = means.std(axis=0, ddof=1) / math.sqrt(len(means))
    assert np.all(standard_error < 1e-3)
    np.testing.assert_array_less(np.abs(means.mean(axis=0) - w_opt), 4 * standard_error)


def test_soft_bounds_logistic_regression_is_the_per_weight_decay_network():
    """Soft bounds: the trained classifier is the digital one with lambda_i = E|g_i| / w_max (the plug-in
    penalty), far from the undecayed one; the runner reports it."""
    raw = {"seed": 1, "task": {"kind": "teacher_classification", "n_train": 300, "n_test": 200, "n_features": 5,
                               "teacher_std": 3.0},
           "device": {"kind": "soft_bounds", "dw_min": 1e-3, "w_max": 1.0}, "model": {"bias": True},
           "train": {"lr": 0.02, "epochs": 30, "batch_size": 10}}
    s, arrays = run_summary(resolve_config(raw), progress=False)
    assert s["loss"] == "logistic" and s["layer_sizes"] == [5, 1]
    assert s["per_weight_relative_distance"] < 0.01
    assert s["exact_weight_distance_to_per_weight"] < 0.01 * s["exact_weight_distance_to_plain"]
    assert s["per_layer"]["layer0"]["lambda_plugin_mean"] == pytest.approx(s["lambda_plugin_mean"])
    assert s["per_layer"]["layer0"]["stationarity_ratio"] < 0.05
    stats_g = arrays["mean_abs_grad"][0]
    np.testing.assert_allclose(arrays["lambda_plugin"][0], stats_g / 1.0)


# ---------------------------------------------------------------------------- the runner
@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    raw = {"seed": 3, "task": {"kind": "teacher_classification", "n_train": 60, "n_test": 40, "n_features": 4,
                               "n_classes": 3},
           "device": {"kind": "soft_bounds", "dw_min": 2e-3, "w_max": 1.0},
           "model": {"kind": "mlp", "hidden": [5], "max_tile_size": 4},
           "train": {"lr": 0.05, "epochs": 4, "batch_size": 5}}
    out = tmp_path_factory.mktemp("mlp")
    return run(resolve_config(raw), out, progress=False, figures=True), out


def test_runner_summary_keys_and_files(mlp_run):
    s, out = mlp_run
    for key in ("test_loss_final", "test_loss_mean_weights", "test_accuracy_final", "test_accuracy_mean_weights",
                "digital_test_accuracy", "digital_per_weight_test_accuracy", "weight_distance_to_per_weight_digital",
                "weight_distance_to_plain_digital", "global_weight_decay_fit", "per_weight_relative_distance",
                "output_distance_to_per_weight_digital", "pulses_up", "pulses_down", "regime_warnings"):
        assert key in s, key
    assert set(s["per_layer"]) == {"layer0", "layer1"}
    assert s["per_layer"]["layer0"]["tiles"] == 2 * 2 and s["per_layer"]["layer1"]["tiles"] == 1 * 2
    for key in ("lambda_plugin_mean", "mean_abs_grad_mean", "mean_abs_grad_w_mean", "stationarity_ratio"):
        assert math.isfinite(s["per_layer"]["layer1"][key])
    assert set(s["curves"]) >= {"epoch", "train_loss", "test_loss", "train_accuracy", "test_accuracy"}
    prov = s["provenance"]
    assert prov["config"]["model"]["hidden"] == [5] and prov["seed"] == 3 and prov["backend"] == "numba"
    written = json.loads((out / "summary.json").read_text())
    assert written["test_accuracy_final"] == pytest.approx(s["test_accuracy_final"])
    json.dumps(to_jsonable(s), allow_nan=False)
    with np.load(out / "weights.npz") as z:
        assert z["weights_mean_0"].shape == (5, 5) and z["lambda_plugin_1"].shape == (3, 6)
    assert (out / "curves.png").exists() and (out / "lambda.png").exists()
    lines = summary_lines(written)
    assert lines[0].startswith("network [4, 5, 3] (softmax)") and "test accuracy" in lines[1]


def test_constant_step_device_has_no_per_weight_penalty():
    raw = {"seed": 2, "task": {"kind": "teacher_classification", "n_train": 50, "n_test": 20, "n_features": 3},
           "device": {"kind": "constant_step", "dw_min": 1e-3}, "model": {"kind": "mlp", "hidden": [3]},
           "train": {"lr": 0.05, "epochs": 2, "batch_size": 10}}
    s, _ = run_summary(resolve_config(raw), progress=False)
    assert s["lambda_plugin_mean"] == 0.0 and s["per_weight_shift"] == 0.0
    assert s["per_weight_relative_distance"] == pytest.approx(1.0)
    biased = dict(raw, device={"kind": "constant_step", "dw_min": 1e-3, "up_down": 0.2})
    s, _ = run_summary(resolve_config(biased), progress=False)
    assert any(w.startswith("no_symmetry_point") for w in s["regime_warnings"])
    assert math.isnan(s["weight_distance_to_per_weight_digital"])


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs,name", [
    (dict(layer_sizes=[3]), "layer_sizes"),
    (dict(layer_sizes=[3, 0]), "layer_sizes"),
    (dict(layer_sizes=[3, 2], activation="gelu"), "activation"),
    (dict(layer_sizes=[3, 2], max_tile_size=0), "max_tile_size"),
    (dict(layer_sizes=[3, 2], bias=1), "bias"),
    (dict(layer_sizes=[3, 2], seed=-1), "seed"),
])
def test_bad_network_arguments_name_the_parameter(kwargs, name):
    with pytest.raises(ConfigError, match=f"'{name}' parameter of AnalogMLP"):
        AnalogMLP(device=IDEAL, **kwargs)


@pytest.mark.parametrize("model,key", [
    ({"kind": "mlp"}, "hidden"),
    ({"kind": "linear", "hidden": [4]}, "hidden"),
    ({"kind": "mlp", "hidden": [0]}, "hidden"),
    ({"kind": "mlp", "hidden": [4], "activation": "gelu"}, "activation"),
    ({"kind": "mlp", "hidden": [4], "max_tile_size": 0}, "max_tile_size"),
    ({"kind": "cnn"}, "kind"),
    ({"loss": "hinge"}, "loss"),
    ({"depth": 3}, "depth"),
])
def test_bad_model_config_names_the_key(model, key):
    with pytest.raises(ConfigError, match=f"Invalid config key 'model.{key}'"):
        resolve_config({"task": {"kind": "digits"}, "model": model})


def test_bad_baseline_arguments_name_the_parameter():
    X, y = np.ones((4, 2)), np.array([0, 1, 2, 1])
    with pytest.raises(ConfigError, match="'y' parameter of logistic_regression"):
        logistic_regression(X, y)
    with pytest.raises(ConfigError, match="'lam' parameter of softmax_regression"):
        softmax_regression(X, y, -1.0)
    with pytest.raises(ConfigError, match="'permutations' parameter of train_digital"):
        train_digital([np.zeros((3, 3))], X, y, lrs=0.1, permutations=np.zeros((2, 3), dtype=int))
    with pytest.raises(ConfigError, match="'weight_decay' parameter of train_digital"):
        penalty_matrices([np.zeros((3, 3))], [1.0, 2.0], True, "weight_decay")
    with pytest.raises(ConfigError, match="'scale' parameter of fit_weight_decay"):
        fit_weight_decay(lambda lam: lam, 0.0)
    with pytest.raises(ConfigError, match="'model' parameter of train"):
        data = TeacherClassificationTask(n_train=10, n_features=3, n_classes=3, seed=1).load(0)
        train(AnalogMLP([3, 2], device=IDEAL), data, TrainConfig(epochs=1), seed=0, loss="softmax")
