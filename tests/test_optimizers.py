"""Optimizers, clipping and schedules: parity with torch.optim, the course's
clipping rule, bit-identical resume, dtype policy and input validation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import safetensors.numpy
import torch

from boucle import optimizers as O
from boucle.errors import BoucleError
from boucle.optimizers import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    ExponentialDecay,
    Optimizer,
    RMSprop,
    StepDecay,
    clip_by_global_norm,
    clip_by_value,
    global_norm,
)

SHAPES = {"dense/U": (4, 6), "dense/b": (6,), "lstm/W": (3, 2, 5)}


def _params(rng, dtype=np.float64):
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


def _grads(rng, dtype=np.float64, scale=1.0):
    return {k: (scale * rng.standard_normal(s)).astype(dtype) for k, s in SHAPES.items()}


# --------------------------------------------------------------------------- parity with torch.optim

PARITY = {
    "sgd": (lambda: SGD(0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "sgd_momentum": (lambda: SGD(0.05, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    "sgd_nesterov": (
        lambda: SGD(0.05, momentum=0.8, nesterov=True),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
    ),
    "adam": (
        lambda: Adam(0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-8),
        lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-8),
    ),
    "rmsprop": (
        lambda: RMSprop(0.01, rho=0.9, epsilon=1e-8),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-8),
    ),
    "rmsprop_momentum": (
        lambda: RMSprop(0.01, rho=0.95, epsilon=1e-6, momentum=0.7),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.95, eps=1e-6, momentum=0.7),
    ),
    "rmsprop_centered": (
        lambda: RMSprop(0.01, rho=0.9, epsilon=1e-8, momentum=0.5, centered=True),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-8, momentum=0.5, centered=True),
    ),
    "adagrad": (
        lambda: Adagrad(0.1, initial_accumulator_value=0.1, epsilon=1e-10),
        lambda p: torch.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.1, eps=1e-10),
    ),
    "adagrad_zero_acc": (
        lambda: Adagrad(0.05, initial_accumulator_value=0.0, epsilon=1e-7),
        lambda p: torch.optim.Adagrad(p, lr=0.05, eps=1e-7),
    ),
    "adadelta": (
        lambda: Adadelta(1.0, rho=0.9, epsilon=1e-6),
        lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.9, eps=1e-6),
    ),
    "adadelta_lr": (
        lambda: Adadelta(0.5, rho=0.95, epsilon=1e-7),
        lambda p: torch.optim.Adadelta(p, lr=0.5, rho=0.95, eps=1e-7),
    ),
}


def _run_parity(make_ours, make_torch, steps=20, torch_sched=None, seed=0):
    rng = np.random.default_rng(seed)
    params = _params(rng)
    tparams = [torch.tensor(v.copy(), requires_grad=True) for v in params.values()]
    ours, theirs = make_ours(), make_torch(tparams)
    sched = torch_sched(theirs) if torch_sched else None
    for _ in range(steps):
        grads = _grads(rng)
        ours.step(params, grads)
        for t, g in zip(tparams, grads.values()):
            t.grad = torch.tensor(g)
        theirs.step()
        if sched is not None:
            sched.step()
    return max(float(np.max(np.abs(params[k] - t.detach().numpy()))) for k, t in zip(params, tparams))


@pytest.mark.parametrize("case", sorted(PARITY))
def test_parity_with_torch_float64(case):
    make_ours, make_torch = PARITY[case]
    assert _run_parity(make_ours, make_torch) < 1e-12


def test_parity_with_torch_step_schedule():
    # StepDecay(it) = 0.1 * 0.5 ** (it // 7) is torch's StepLR(step_size=7, gamma=0.5) stepped per iteration
    diff = _run_parity(
        lambda: SGD(StepDecay(0.1, 0.5, 7), momentum=0.9),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        torch_sched=lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5),
    )
    assert diff < 1e-12


def test_parity_moves_parameters():
    # guard against a vacuous parity: 20 steps really change the parameters
    rng = np.random.default_rng(1)
    params = _params(rng)
    before = {k: v.copy() for k, v in params.items()}
    opt = Adam(0.01)
    for _ in range(20):
        opt.step(params, _grads(rng))
    assert all(np.max(np.abs(params[k] - before[k])) > 0.05 for k in params)
    assert opt.iterations == 20


# --------------------------------------------------------------------------- learning


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "adagrad", "adadelta"])
def test_minimises_least_squares(name):
    rng = np.random.default_rng(2)
    A = rng.standard_normal((20, 5))
    y = rng.standard_normal(20)
    opt = {
        "sgd": SGD(0.01, momentum=0.9),
        "adam": Adam(0.05),
        "rmsprop": RMSprop(0.01),
        "adagrad": Adagrad(0.5),
        "adadelta": Adadelta(1.0, epsilon=1e-4),
    }[name]
    params = {"w": np.zeros(5)}

    def loss_grad():
        r = A @ params["w"] - y
        return 0.5 * float(r @ r) / len(y), {"w": A.T @ r / len(y)}

    first, _ = loss_grad()
    best = 0.5 * float(np.sum((A @ np.linalg.lstsq(A, y, rcond=None)[0] - y) ** 2)) / len(y)
    for _ in range(500):
        _, g = loss_grad()
        opt.step(params, g)
    last, _ = loss_grad()
    assert last - best < 0.05 * (first - best)


# --------------------------------------------------------------------------- clipping


def test_clip_by_global_norm_scales_when_above():
    g = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0, 12.0]])}  # ||g|| = 13 over both tensors
    orig = {k: v.copy() for k, v in g.items()}
    clipped, norm = clip_by_global_norm(g, 6.5)
    assert norm == 13.0
    np.testing.assert_allclose(clipped["a"], [1.5, 0.0], rtol=1e-15)
    np.testing.assert_allclose(clipped["b"], [[2.0, 6.0]], rtol=1e-15)
    assert math.isclose(global_norm(clipped), 6.5, rel_tol=1e-15)
    assert all(np.array_equal(g[k], orig[k]) for k in g)  # input untouched


def test_clip_by_global_norm_rule_is_greater_or_equal():
    g = {"a": np.array([3.0]), "b": np.array([4.0])}  # ||g|| = 5 exactly
    at, n_at = clip_by_global_norm(g, 5.0)
    assert n_at == 5.0 and at["a"] is not g["a"]  # ||g|| >= seuil: the rule applies
    np.testing.assert_array_equal(at["a"], [3.0])  # ... with factor 1
    below, n_below = clip_by_global_norm(g, 5.000001)
    assert n_below == 5.0 and below["a"] is g["a"] and below["b"] is g["b"]  # untouched


def test_clip_by_global_norm_keeps_float32_and_nan_passes():
    g = {"a": np.full((3,), 10.0, np.float32)}
    clipped, _ = clip_by_global_norm(g, 1.0)
    assert clipped["a"].dtype == np.float32
    _, n = clip_by_global_norm({"a": np.array([np.nan, 1.0])}, 1.0)
    assert math.isnan(n)
    huge = {"a": np.array([3e20, -4e20], np.float32), "b": np.zeros(2, np.float32)}  # squares overflow float32
    clipped, n = clip_by_global_norm(huge, 1.0)
    assert n == pytest.approx(5e20, rel=1e-6) and clipped["a"].dtype == np.float32
    np.testing.assert_allclose(clipped["a"], [0.6, -0.8], rtol=1e-6)


def test_clip_by_value():
    g = {"a": np.array([-3.0, -0.5, 0.2, 7.0])}
    c = clip_by_value(g, 1.0)
    np.testing.assert_array_equal(c["a"], [-1.0, -0.5, 0.2, 1.0])
    np.testing.assert_array_equal(g["a"], [-3.0, -0.5, 0.2, 7.0])


@pytest.mark.parametrize("clipnorm, clipvalue", [(1.0, None), (None, 0.5), (2.0, 0.8), (100.0, None)])
def test_clipping_inside_step_equals_manual_clip(clipnorm, clipvalue):
    rng = np.random.default_rng(3)
    p1 = _params(rng)
    p2 = {k: v.copy() for k, v in p1.items()}
    a = Adam(0.01, clipnorm=clipnorm, clipvalue=clipvalue)
    b = Adam(0.01)
    for _ in range(5):
        g = _grads(rng, scale=3.0)
        g_copy = {k: v.copy() for k, v in g.items()}
        norm = a.step(p1, g)
        assert norm == pytest.approx(math.sqrt(sum(float(np.sum(v * v)) for v in g_copy.values())), rel=1e-12)
        assert all(np.array_equal(g[k], g_copy[k]) for k in g)  # caller's grads untouched
        manual = g_copy
        if clipvalue is not None:
            manual = clip_by_value(manual, clipvalue)
        if clipnorm is not None:
            manual, _ = clip_by_global_norm(manual, clipnorm)
        b.step(p2, manual)
    assert all(np.array_equal(p1[k], p2[k]) for k in p1)


# --------------------------------------------------------------------------- schedules and learning rates


def test_step_decay_values():
    s = StepDecay(0.1, 0.5, 10)
    assert [s(i) for i in (0, 9, 10, 19, 20, 35)] == [0.1, 0.1, 0.05, 0.05, 0.025, 0.1 * 0.5**3]


def test_exponential_decay_values():
    s = ExponentialDecay(0.1, 0.96, 100)
    assert s(0) == 0.1
    assert s(50) == pytest.approx(0.1 * 0.96**0.5, rel=1e-15)
    assert s(250) == pytest.approx(0.1 * 0.96**2.5, rel=1e-15)
    st = ExponentialDecay(0.1, 0.96, 100, staircase=True)
    assert st(99) == 0.1 and st(100) == pytest.approx(0.096, rel=1e-15) and st(250) == pytest.approx(0.1 * 0.96**2)


def test_schedule_config_roundtrip():
    for s in (StepDecay(0.1, 0.5, 10), ExponentialDecay(0.01, 0.9, 1000, staircase=True)):
        cfg = json.loads(json.dumps(s.get_config()))
        r = O.schedule_from_config(cfg)
        assert (
            type(r) is type(s) and r == s and [r(i) for i in range(0, 3000, 77)] == [s(i) for i in range(0, 3000, 77)]
        )


def test_schedule_drives_current_lr_and_steps():
    opt = SGD(StepDecay(0.1, 0.1, 2))
    p = {"w": np.zeros(2)}
    lrs = []
    for _ in range(5):
        lrs.append(opt.current_lr())
        before = p["w"].copy()
        opt.step(p, {"w": np.ones(2)})
        np.testing.assert_allclose(before - p["w"], lrs[-1], rtol=1e-15)
    np.testing.assert_allclose(lrs, [0.1, 0.1, 0.01, 0.01, 0.001], rtol=1e-15)


def test_set_lr_replaces_float_and_schedule():
    opt = Adam(0.001)
    assert opt.current_lr() == 0.001
    opt.set_lr(0.5)
    assert opt.learning_rate == 0.5 and opt.current_lr() == 0.5
    sched = SGD(ExponentialDecay(0.1, 0.5, 1))
    sched.step({"w": np.zeros(1)}, {"w": np.ones(1)})
    assert sched.current_lr() == 0.05
    sched.set_lr(np.float32(0.25))
    assert type(sched.learning_rate) is float and sched.current_lr() == 0.25


# --------------------------------------------------------------------------- config and get


def test_get_by_name_instance_and_defaults():
    assert type(O.get("ADAM")) is Adam and type(O.get("RMSprop")) is RMSprop and type(O.get("sgd")) is SGD
    opt = Adagrad()
    assert O.get(opt) is opt
    assert (Adam().learning_rate, Adam().epsilon) == (0.001, 1e-7)
    assert (SGD().learning_rate, RMSprop().rho, Adadelta().learning_rate, Adadelta().rho) == (0.01, 0.9, 1.0, 0.95)
    assert (Adagrad().learning_rate, Adagrad().initial_accumulator_value) == (0.001, 0.1)


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(BoucleError) as e:
        O.get("nope")
    msg = str(e.value)
    assert "optimizer" in msg and "'nope'" in msg and "\n" not in msg
    for name in ("sgd", "adam", "rmsprop", "adagrad", "adadelta"):
        assert name in msg


@pytest.mark.parametrize(
    "opt",
    [
        SGD(0.02, momentum=0.5, nesterov=True, clipnorm=1.0),
        Adam(clipvalue=0.3),
        RMSprop(momentum=0.2, centered=True),
        Adagrad(0.1, 0.0, 1e-9),
        Adadelta(ExponentialDecay(1.0, 0.5, 10)),
        Adam(StepDecay(0.01, 0.5, 100)),
    ],
)
def test_config_roundtrip(opt):
    cfg = json.loads(json.dumps(opt.get_config()))
    assert cfg["class_name"] == type(opt).__name__
    for back in (Optimizer.from_config(cfg), type(opt).from_config(cfg), O.get(cfg)):
        assert type(back) is type(opt) and back.get_config() == opt.get_config()
    assert repr(back).startswith(type(opt).__name__ + "(")


# --------------------------------------------------------------------------- state and resume

RESUME = [
    lambda: SGD(0.05),
    lambda: SGD(0.05, momentum=0.9, nesterov=True),
    lambda: Adam(0.01),
    lambda: RMSprop(0.01, momentum=0.5, centered=True),
    lambda: Adagrad(0.1),
    lambda: Adadelta(1.0, clipnorm=2.0),
    lambda: Adam(ExponentialDecay(0.01, 0.5, 5), clipvalue=1.0),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("i", range(len(RESUME)))
def test_state_dict_resume_is_bit_identical(i, dtype):
    rng = np.random.default_rng(4)
    pa = _params(rng, dtype)
    grads = [_grads(rng, dtype, scale=2.0) for _ in range(20)]
    a = RESUME[i]()
    for g in grads[:10]:
        a.step(pa, g)
    state = a.state_dict()
    if i == 2:  # through safetensors, as a checkpoint file stores it
        state = safetensors.numpy.load(safetensors.numpy.save(state))
    assert state["iterations"].shape == () and state["iterations"].dtype == np.int64 and int(state["iterations"]) == 10
    b = Optimizer.from_config(a.get_config())
    pb = {k: v.copy() for k, v in pa.items()}
    b.load_state_dict(state, params=pb)
    assert b.iterations == 10 and b.current_lr() == a.current_lr()
    for g in grads[10:]:
        a.step(pa, g)
        b.step(pb, g)
    assert all(np.array_equal(pa[k], pb[k]) and pb[k].dtype == dtype for k in pa)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)


def test_state_dict_contents_and_copies():
    opt = Adam(0.01)
    p = {"x": np.zeros(3)}
    opt.step(p, {"x": np.ones(3)})
    s = opt.state_dict()
    assert sorted(s) == ["iterations", "learning_rate", "m/x", "v/x"]
    assert s["learning_rate"].shape == () and float(s["learning_rate"]) == 0.01
    s["m/x"][:] = 99.0  # a copy: the optimizer is unaffected
    assert not np.any(opt.state_dict()["m/x"] == 99.0)
    assert "learning_rate" not in SGD(StepDecay(0.1, 0.5, 2)).state_dict()
    assert sorted(SGD(momentum=0.9).state_dict()) == ["iterations", "learning_rate"]  # slots are lazy


def test_load_state_dict_validates():
    opt = Adam()
    p = {"x": np.zeros(3)}
    opt.step(p, {"x": np.ones(3)})
    good = opt.state_dict()
    bad_cases = [
        ({k: v for k, v in good.items() if k != "iterations"}, "iterations"),
        ({**good, "iterations": np.array([1, 2])}, "iterations"),
        ({**good, "iterations": np.array(-1)}, "iterations"),
        ({**good, "learning_rate": np.array(-0.1)}, "learning_rate"),
        ({**good, "accumulator/x": np.zeros(3)}, "accumulator/x"),
        ({k: v for k, v in good.items() if k != "v/x"}, "'x'"),
        ({**good, "v/x": np.zeros(4)}, "'x'"),
        ({**good, "m/x": np.zeros(3, dtype=np.int64)}, "m/x"),
        ([1, 2], "state"),
    ]
    for state, needle in bad_cases:
        fresh = Adam()
        with pytest.raises(BoucleError, match="load_state_dict") as e:
            fresh.load_state_dict(state)
        assert needle in str(e.value) and "\n" not in str(e.value)
        assert fresh.iterations == 0 and fresh.state_dict().keys() == {"iterations", "learning_rate"}
    with pytest.raises(BoucleError, match=r"state\['m/x'\].*shape"):
        Adam().load_state_dict(good, params={"x": np.zeros(5)})
    with pytest.raises(BoucleError, match="'x'"):
        Adam().load_state_dict(good, params={"y": np.zeros(3)})
    resumed = Adam()
    resumed.load_state_dict(good)
    with pytest.raises(BoucleError, match=r"params\['x'\].*shape"):  # caught at the first step
        resumed.step({"x": np.zeros(4)}, {"x": np.ones(4)})


# --------------------------------------------------------------------------- dtypes and in-place updates


@pytest.mark.parametrize(
    "make",
    [
        lambda: SGD(0.1, momentum=0.9, nesterov=True),
        lambda: Adam(0.01),
        lambda: RMSprop(0.01, momentum=0.5, centered=True),
        lambda: Adagrad(0.1),
        lambda: Adadelta(),
        lambda: Adam(0.01, clipnorm=0.5, clipvalue=0.1),
    ],
)
def test_float32_params_stay_float32_and_update_in_place(make):
    rng = np.random.default_rng(5)
    params = _params(rng, np.float32)
    refs = dict(params)
    before = {k: v.copy() for k, v in params.items()}
    opt = make()
    for i in range(3):
        opt.step(params, _grads(rng, np.float64 if i == 1 else np.float32))  # float64 grads are cast
    for k in params:
        assert params[k] is refs[k] and params[k].dtype == np.float32
        assert not np.array_equal(params[k], before[k])
    assert all(v.dtype == np.float32 for k, v in opt.state_dict().items() if "/" in k)


# --------------------------------------------------------------------------- bad input


def _step(opt, params, grads):
    return lambda: opt.step(params, grads)


BAD = [
    (lambda: SGD(0.0), "learning_rate"),
    (lambda: SGD(-1.0), "learning_rate"),
    (lambda: SGD("fast"), "learning_rate"),
    (lambda: SGD(float("nan")), "learning_rate"),
    (lambda: SGD(True), "learning_rate"),
    (lambda: SGD(momentum=1.0), "momentum"),
    (lambda: SGD(momentum=-0.1), "momentum"),
    (lambda: SGD(nesterov=True), "nesterov"),
    (lambda: SGD(momentum=0.9, nesterov="yes"), "nesterov"),
    (lambda: Adam(beta_1=1.0), "beta_1"),
    (lambda: Adam(beta_2=-0.5), "beta_2"),
    (lambda: Adam(epsilon=0), "epsilon"),
    (lambda: RMSprop(rho=1.5), "rho"),
    (lambda: RMSprop(momentum=1), "momentum"),
    (lambda: RMSprop(centered=1), "centered"),
    (lambda: RMSprop(epsilon=-1e-7), "epsilon"),
    (lambda: Adagrad(initial_accumulator_value=-0.1), "initial_accumulator_value"),
    (lambda: Adagrad(epsilon=float("inf")), "epsilon"),
    (lambda: Adadelta(rho=1.0), "rho"),
    (lambda: Adam(clipnorm=0.0), "clipnorm"),
    (lambda: Adam(clipnorm=float("nan")), "clipnorm"),
    (lambda: Adam(clipvalue=-1.0), "clipvalue"),
    (lambda: Adam().set_lr(0.0), "lr"),
    (lambda: Adam().set_lr(float("inf")), "lr"),
    (lambda: clip_by_global_norm({"a": np.ones(2)}, 0.0), "threshold"),
    (lambda: clip_by_global_norm([np.ones(2)], 1.0), "grads"),
    (lambda: clip_by_global_norm({"a": np.ones(2, dtype=int)}, 1.0), "grads['a']"),
    (lambda: clip_by_value({"a": np.ones(2)}, -1.0), "limit"),
    (_step(SGD(), {"a": np.ones(2), "b": np.ones(1)}, {"a": np.ones(2)}), "grads"),
    (_step(SGD(), {"a": np.ones(2)}, {"a": np.ones(3)}), "grads['a']"),
    (_step(SGD(), {"a": np.ones(2, dtype=int)}, {"a": np.ones(2)}), "params['a']"),
    (_step(SGD(), [np.ones(2)], {"a": np.ones(2)}), "params"),
    (_step(SGD(lambda it: -1.0), {"a": np.ones(2)}, {"a": np.ones(2)}), "learning_rate"),
    (lambda: StepDecay(0.0, 0.5, 10), "initial"),
    (lambda: StepDecay(0.1, 1.5, 10), "drop"),
    (lambda: StepDecay(0.1, 0.5, 0), "every"),
    (lambda: StepDecay(0.1, 0.5, 10)(-1), "iteration"),
    (lambda: ExponentialDecay(0.1, 0.0, 10), "decay_rate"),
    (lambda: ExponentialDecay(0.1, 0.9, 0), "decay_steps"),
    (lambda: ExponentialDecay(0.1, 0.9, 10, staircase="no"), "staircase"),
    (lambda: O.schedule_from_config({"class_name": "Nope"}), "class_name"),
    (lambda: O.get(3), "optimizer"),
    (lambda: O.get("nope"), "optimizer"),
    (lambda: Optimizer.from_config({"class_name": "Nope"}), "class_name"),
    (lambda: SGD.from_config({"class_name": "Adam"}), "class_name"),
    (lambda: SGD.from_config({"learning_rate": 0.1, "beta_1": 0.9}), "beta_1"),
    (lambda: SGD(lambda it: 0.1).get_config(), "learning_rate"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_input_raises_one_line_error_naming_the_argument(i):
    call, name = BAD[i]
    with pytest.raises(BoucleError) as e:
        call()
    msg = str(e.value)
    assert name in msg and "\n" not in msg
    assert isinstance(e.value, ValueError)
