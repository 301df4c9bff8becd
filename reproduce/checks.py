"""One small function per claim: results in, Evidence out. Bounds sit beside their check.

Every bound is per scale and comes from measurement over seeds of this recipe on this project's
2-core CPU (torch 2.14.1, Python 3.11). The numbers in the comments come from training the
study (``reproduce.study.study_configs``) with ``reproduce.experiments.run`` and evaluating
these checks on it, as ``reproduce claims --scale S --seeds ...`` does: lecture scale over seeds
0-4 (regression) and 0-2 (classification), smoke scale over seeds 0-9. "mean ± sd (min..max)"
is over seeds.
"""

from __future__ import annotations

import functools
import time

import torch

from reproduce.evidence import Evidence, fmt, over_seeds, rank_correlation
from reproduce.losses import LpLoss, get_loss
from reproduce.models import Autoencoder
from reproduce.study import Study

AUTOENCODER_LOSSES = ("mse", "l1")
CLASSIFIER_LOSSES = ("ce", "nll", "multimargin")


def _bound(table: dict, study: Study):
    if study.scale not in table:
        raise KeyError(f"no bounds measured for scale {study.scale!r}; have {sorted(table)}")
    return table[study.scale]


# --- A1: L1 is a usable alternative to MSE -----------------------------------------------------
# "far above": final robust SSIM minus the untrained net's (which is ~0.004 at both scales).
# Measured gain, lecture seeds 0-4: MSE 0.818 ± 0.001 (0.815..0.819), L1 0.770 ± 0.010 (0.760..0.782);
# smoke seeds 0-9: MSE 0.163 ± 0.003 (0.160..0.169), L1 0.168 ± 0.001 (0.166..0.169).
A1_MIN_GAIN = {"lecture": 0.5, "smoke": 0.10}


def l1_usable(study: Study) -> Evidence:
    """Both autoencoders reconstruct: every seed's final SSIM far above the untrained net's."""
    min_gain = _bound(A1_MIN_GAIN, study)
    numbers, holds = {}, True
    for loss in AUTOENCODER_LOSSES:
        histories = study.histories("regression", loss)
        gains = over_seeds([h.metrics["ssim"][-1] - h.untrained["ssim"] for h in histories])
        numbers[f"{loss}_ssim_gain"] = gains
        holds &= gains["min"] >= min_gain
    summary = ", ".join(f"{k}: {fmt(v)}" for k, v in numbers.items())
    return Evidence(holds, f"SSIM gain over untrained {summary}; bound >= {min_gain}", numbers)


# --- A2: the training loss has significantly gone down -----------------------------------------
# "significantly gone down": at least halved. Measured last/first, lecture seeds 0-4: MSE
# 0.076 ± 0.001 (0.076..0.077), L1 0.295 ± 0.007 (0.287..0.302); smoke seeds 0-9: MSE 0.417 (0.413..0.422),
# L1 0.365 (0.361..0.368).
A2_MAX_RATIO = {"lecture": 0.5, "smoke": 0.5}


def loss_goes_down(study: Study) -> Evidence:
    """Last-epoch training loss / first-epoch training loss, every seed, below the bound."""
    max_ratio = _bound(A2_MAX_RATIO, study)
    numbers, holds = {}, True
    for loss in AUTOENCODER_LOSSES:
        curves = study.curves("regression", loss, "train_loss")
        ratio = over_seeds([c[-1] / c[0] for c in curves])
        numbers[f"{loss}_last_over_first"] = ratio
        holds &= ratio["max"] <= max_ratio
    summary = ", ".join(f"{k}: {fmt(v)}" for k, v in numbers.items())
    return Evidence(holds, f"{summary}; bound <= {max_ratio}", numbers)


# --- A3: image quality gets better and better as the loss comes down ---------------------------
# "better and better": near-monotone. Measured rho = 1.00 for every seed, loss and measure at
# both scales (SSIM rose and MAE fell every epoch). 0.9 allows one late swap of neighbours
# at lecture scale (rho = 0.988) and demands strict monotony at smoke scale (3 epochs).
A3_MIN_TREND = {"lecture": 0.9, "smoke": 0.9}


def quality_improves(study: Study) -> Evidence:
    """Per seed, rank correlation of SSIM with epoch >= bound and of MAE with epoch <= -bound."""
    min_trend = _bound(A3_MIN_TREND, study)
    numbers, holds = {}, True
    for loss in AUTOENCODER_LOSSES:
        ssim = over_seeds([rank_correlation(c) for c in study.curves("regression", loss, "ssim")])
        mae = over_seeds([rank_correlation(c) for c in study.curves("regression", loss, "mae")])
        numbers[f"{loss}_ssim_trend"], numbers[f"{loss}_mae_trend"] = ssim, mae
        holds &= ssim["min"] >= min_trend and mae["max"] <= -min_trend
    summary = ", ".join(f"{k}: {fmt(v, 2)}" for k, v in numbers.items())
    return Evidence(holds, f"{summary}; bound |rho| >= {min_trend}", numbers)


# --- A4: SSIM starts around 0.4 in both cases ---------------------------------------------------
# "around 0.4" read as 0.4 ± 0.1. Measured epoch-1 SSIM by the notebook's protocol, lecture
# seeds 0-4: MSE 0.368 ± 0.002 (0.364..0.370), L1 0.398 ± 0.011 (0.382..0.408); the robust protocol gives
# MSE 0.352, L1 0.280. At smoke scale (60 steps per epoch, not the lecture's 600) the first
# epoch ends far lower, MSE 0.105 ± 0.003, L1 0.116 ± 0.004 (seeds 0-9): its band only
# guards that measurement, the 0.4 is judged at lecture scale.
A4_BAND = {"lecture": (0.3, 0.5), "smoke": (0.05, 0.2)}


def ssim_starts_near_04(study: Study) -> Evidence:
    """Epoch-1 SSIM by the notebook's protocol, mean over seeds inside the band, per loss."""
    low, high = _bound(A4_BAND, study)
    numbers, holds = {}, True
    for loss in AUTOENCODER_LOSSES:
        lecture = over_seeds([c[0] for c in study.curves("regression", loss, "ssim_lecture")])
        robust = over_seeds([c[0] for c in study.curves("regression", loss, "ssim")])
        numbers[f"{loss}_first_ssim_lecture"], numbers[f"{loss}_first_ssim_robust"] = (
            lecture,
            robust,
        )
        holds &= low <= lecture["mean"] <= high
    summary = ", ".join(f"{k}: {fmt(v)}" for k, v in numbers.items())
    return Evidence(holds, f"{summary}; band for the lecture protocol [{low}, {high}]", numbers)


# --- A5 / B3: different inits start differently; one seed replays exactly ----------------------
def _inits_differ_and_replay(
    study: Study, family: str, losses, measure: str, replay_family: str, replay_loss: str
) -> Evidence:
    untrained = [[h.untrained[measure] for h in study.histories(family, loss)] for loss in losses]
    firsts = [[c[0] for c in study.curves(family, loss, measure)] for loss in losses]
    # Within each seed the replicas' untrained and first-epoch values are pairwise distinct.
    distinct = all(
        len({values[seed] for values in table}) == len(losses)
        for table in (untrained, firsts)
        for seed in range(len(study.seeds))
    )
    original = {r.config.seed: r for r in study.runs[family]}
    replays = study.runs[replay_family]
    identical = [original[r.config.seed].histories[replay_loss] == r.histories[replay_loss] for r in replays]
    numbers = {
        f"first_{measure}_per_seed": {loss: f for loss, f in zip(losses, firsts)},
        "replays_identical": f"{sum(identical)}/{len(identical)}",
    }
    summary = (
        f"replicas' untrained and epoch-1 {measure} pairwise distinct in every seed: {distinct}; "
        f"separate runs of one seed bit-identical ({replay_loss}): {sum(identical)}/{len(identical)}"
    )
    return Evidence(distinct and all(identical) and bool(identical), summary, numbers)


def autoencoder_inits_differ(study: Study) -> Evidence:
    """A5: the MSE and L1 nets start apart; a separate run of the same seed replays exactly."""
    return _inits_differ_and_replay(study, "regression", AUTOENCODER_LOSSES, "ssim", "replicate", "mse")


def classifier_inits_differ(study: Study) -> Evidence:
    """B3: the three classifiers start apart; a separate run of the same seed replays exactly."""
    return _inits_differ_and_replay(
        study, "classification", CLASSIFIER_LOSSES, "accuracy", "shared_init", "ce"
    )


# --- A6: MSE has a higher propensity of coming to a convergence than L1 ------------------------
def mse_converges_better(study: Study) -> Evidence:
    """MSE's test SSIM above L1's at every epoch of every seed (MAE reported beside)."""
    mse, l1 = (study.curves("regression", loss, "ssim") for loss in AUTOENCODER_LOSSES)
    margins = [min(a - b for a, b in zip(m, n)) for m, n in zip(mse, l1)]
    mae_mse, mae_l1 = (study.curves("regression", loss, "mae") for loss in AUTOENCODER_LOSSES)
    numbers = {
        "min_ssim_margin_mse_minus_l1": over_seeds(margins),
        "final_ssim_mse": over_seeds([c[-1] for c in mse]),
        "final_ssim_l1": over_seeds([c[-1] for c in l1]),
        "final_mae_mse": over_seeds([c[-1] for c in mae_mse]),
        "final_mae_l1": over_seeds([c[-1] for c in mae_l1]),
    }
    summary = ", ".join(f"{k}: {fmt(v)}" for k, v in numbers.items())
    return Evidence(min(margins) > 0, summary, numbers)


# --- A7: Lp with p = 3, 4, 5 goes down steeper, to a better convergence ------------------------
def higher_p_converges_better(study: Study) -> Evidence:
    """For each p: steeper (epoch-1 SSIM above MSE's) and better at the end (final SSIM above
    and final MAE below MSE's), in every seed. Both parts must hold."""
    mse_ssim = study.curves("regression", "mse", "ssim")
    mse_mae = study.curves("regression", "mse", "mae")
    numbers, parts = {}, []
    for p in (3, 4, 5):
        ssim = study.curves("regression", f"lp{p}", "ssim")
        mae = study.curves("regression", f"lp{p}", "mae")
        steeper = over_seeds([c[0] - m[0] for c, m in zip(ssim, mse_ssim)])
        final_ssim = over_seeds([c[-1] - m[-1] for c, m in zip(ssim, mse_ssim)])
        final_mae = over_seeds([m[-1] - c[-1] for c, m in zip(mae, mse_mae)])
        numbers[f"lp{p}"] = {
            "epoch1_ssim_gain": steeper,
            "final_ssim_gain": final_ssim,
            "final_mae_gain": final_mae,
        }
        parts.append(
            f"p={p}: epoch-1 SSIM {steeper['mean']:+.3f} (min {steeper['min']:+.3f}), "
            f"final SSIM {final_ssim['mean']:+.3f} (max {final_ssim['max']:+.3f}), "
            f"final MAE gain {final_mae['mean']:+.4f} (max {final_mae['max']:+.4f})"
        )
    holds = all(
        n["epoch1_ssim_gain"]["min"] > 0
        and n["final_ssim_gain"]["min"] > 0
        and n["final_mae_gain"]["min"] > 0
        for n in numbers.values()
    )
    return Evidence(holds, "Lp against MSE (n seeds, > 0 is better): " + "; ".join(parts), numbers)


# --- A8 / B8: the Lp loss is differentiable; a hand-written backward trains ---------------------
GRADCHECK_PS = (1.5, 2.0, 3.0, 4.0, 5.0)


def lp_gradients_agree(ps=GRADCHECK_PS) -> dict[str, bool]:
    """gradcheck and gradgradcheck in float64 of both Lp forms, at points with zero errors too."""
    g = torch.Generator().manual_seed(0)
    target = torch.rand(4, 6, dtype=torch.float64, generator=g)
    input = target + torch.randn(4, 6, dtype=torch.float64, generator=g)
    input[0, :3] = target[0, :3]  # exact zeros of the error: where |e| has a kink
    input.requires_grad_(True)
    passed = {}
    for p in ps:
        for form in ("norm", "mean"):
            loss = LpLoss(p, form)
            fn = functools.partial(loss, target=target)
            first = torch.autograd.gradcheck(fn, (input,), raise_exception=False)
            # Below p = 2 the second derivative p(p-1)|e|^(p-2) is infinite at e = 0.
            second = p < 2 or torch.autograd.gradgradcheck(fn, (input,), raise_exception=False)
            passed[f"p={p:g} {form}"] = bool(first and second)
    return passed


def one_sided_slopes_at_zero(p: float, h: float = 1e-6) -> tuple[float, float]:
    """Right and left difference quotients of |e|^p at e = 0: equal iff differentiable there."""
    zero = torch.zeros(1, dtype=torch.float64)

    def f(e: float) -> float:
        return LpLoss(p, "mean")(torch.tensor([e], dtype=torch.float64), zero).item()

    return (f(h) - f(0.0)) / h, (f(0.0) - f(-h)) / h


def lp_differentiable(study: Study | None = None) -> Evidence:
    """Lp for p >= 2 passes gradcheck and gradgradcheck even where errors are 0; p = 1 has a kink."""
    passed = lp_gradients_agree()
    right1, left1 = one_sided_slopes_at_zero(1.0)
    right3, left3 = one_sided_slopes_at_zero(3.0)
    kink_at_1 = abs(right1 - left1) > 1.0  # slopes +1 and -1
    smooth_at_3 = abs(right3 - left3) < 1e-6
    holds = all(passed.values()) and kink_at_1 and smooth_at_3
    numbers = {
        "gradcheck": passed,
        "p1_slopes_at_0": [right1, left1],
        "p3_slopes_at_0": [right3, left3],
    }
    summary = (
        f"gradcheck/gradgradcheck pass for {sum(passed.values())}/{len(passed)} (p, form); "
        f"one-sided slopes at e=0: p=1 {right1:+.3f}/{left1:+.3f}, p=3 {right3:+.2g}/{left3:+.2g}"
    )
    return Evidence(holds, summary, numbers)


# (max loss last/first, min SSIM gain over untrained) for the Lp(p=3) autoencoder. Measured,
# lecture seeds 0-4: ratio 0.306 ± 0.002 (0.303..0.308), gain 0.748 ± 0.001 (0.747..0.749); smoke seeds 0-9:
# ratio 0.753 ± 0.003 (0.748..0.758), gain 0.178 ± 0.002 (0.174..0.183).
B8_BOUNDS = {"lecture": (0.5, 0.5), "smoke": (0.85, 0.10)}


def custom_backward_trains(study: Study) -> Evidence:
    """The autograd.Function Lp loss (p=3) passes gradcheck and its autoencoder learns."""
    max_ratio, min_gain = _bound(B8_BOUNDS, study)
    passed = lp_gradients_agree(ps=(3.0,))
    histories = study.histories("regression", "lp3")
    ratio = over_seeds([h.train_loss[-1] / h.train_loss[0] for h in histories])
    gain = over_seeds([h.metrics["ssim"][-1] - h.untrained["ssim"] for h in histories])
    holds = all(passed.values()) and ratio["max"] <= max_ratio and gain["min"] >= min_gain
    numbers = {"gradcheck": passed, "loss_last_over_first": ratio, "ssim_gain": gain}
    summary = (
        f"gradcheck {all(passed.values())}; loss last/first {fmt(ratio)} (bound <= {max_ratio}); "
        f"SSIM gain {fmt(gain)} (bound >= {min_gain})"
    )
    return Evidence(holds, summary, numbers)


# --- A9: the Lp norm is computationally complex, a bit slow, not much --------------------------
# Timed in one process, interleaved, median of repeats, so machine load cancels in the ratios.
# Measured on an idle machine (torch 2.14.1), three calls of lp_cost_ratios() each, by
# `OMP_NUM_THREADS=T python -c "from reproduce.checks import lp_cost_ratios; print(lp_cost_ratios())"`:
# 2 threads: loss alone 3.10 / 3.39 / 3.38x, training step 1.27 / 1.08 / 1.07x;
# 1 thread (as in the tests): loss 4.01 / 3.67 / 3.42x, step 1.00 / 1.06 / 1.08x.
# The matmuls of a step dwarf the loss, so "a bit slow, not much".
A9_MIN_LOSS_RATIO = 2.0  # Lp(p=3) loss forward+backward over MSE's: "computationally complex"
A9_MAX_STEP_RATIO = 1.5  # whole training step, Lp(p=3) over MSE: "not much" slower


def _fastest_seconds(fn, inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def lp_cost_ratios(batch: int = 100, rounds: int = 7) -> dict[str, float]:
    """Lp(p=3)/MSE time ratios: the loss alone (forward+backward) and a whole Adam step.

    The two sides are timed in alternation and each keeps its fastest round: the fastest
    round is the one least disturbed by other work on the machine (an xdist neighbour).
    """
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 784, generator=g)
    out = torch.rand(batch, 784, generator=g).requires_grad_(True)
    criteria = {name: get_loss(name).criterion() for name in ("mse", "lp3")}

    def loss_only(name):
        return lambda: criteria[name](out, x).backward()

    def step(name):
        torch.manual_seed(0)
        net = Autoencoder()
        opt = torch.optim.Adam(net.parameters(), lr=1e-4)

        def run():
            opt.zero_grad()
            criteria[name](net(x), x).backward()
            opt.step()

        return run

    ratios = {}
    for kind, make, inner in (("loss", loss_only, 200), ("step", step, 20)):
        fns = {name: make(name) for name in criteria}
        fastest = {name: _fastest_seconds(fn, inner) for name, fn in fns.items()}  # warm-up
        for _ in range(rounds):
            for name, fn in fns.items():
                fastest[name] = min(fastest[name], _fastest_seconds(fn, inner))
        ratios[kind] = fastest["lp3"] / fastest["mse"]
    return ratios


def lp_a_bit_slower(study: Study | None = None) -> Evidence:
    ratios = lp_cost_ratios()
    holds = ratios["loss"] >= A9_MIN_LOSS_RATIO and ratios["step"] <= A9_MAX_STEP_RATIO
    summary = (
        f"Lp(p=3)/MSE time: loss alone {ratios['loss']:.2f}x (bound >= {A9_MIN_LOSS_RATIO}), "
        f"training step {ratios['step']:.2f}x (bound <= {A9_MAX_STEP_RATIO})"
    )
    return Evidence(holds, summary, ratios)


# --- B1: NLL needs log_softmax; raw scores do not train ----------------------------------------
# Measured final accuracy, lecture seeds 0-2: NLL on log_softmax 97.02 (96.99..97.04), on raw
# scores 10.99 (10.28..11.35), its loss running off to -5e6; smoke seeds 0-9: 82.66 ± 0.34
# (82.00..83.15) and 11.26 ± 3.06 (8.75..18.55). Chance is 10 %.
# (min final accuracy with log_softmax, max without), percent
B1_BOUNDS = {"lecture": (95.0, 30.0), "smoke": (75.0, 30.0)}


def nll_needs_log_softmax(study: Study) -> Evidence:
    """Every seed: NLL on log_softmax ends above the first bound, NLL on raw scores below the second."""
    trained_min, control_max = _bound(B1_BOUNDS, study)
    nll = over_seeds([c[-1] for c in study.curves("classification", "nll", "accuracy")])
    raw = over_seeds([c[-1] for c in study.curves("classification", "nll_raw", "accuracy")])
    holds = nll["min"] >= trained_min and raw["max"] <= control_max
    summary = (
        f"final accuracy: NLL on log_softmax {fmt(nll, 2)} (bound >= {trained_min}), "
        f"NLL on raw scores {fmt(raw, 2)} (bound <= {control_max})"
    )
    return Evidence(holds, summary, {"nll": nll, "nll_raw": raw})


# --- B2: accuracy starts around 91 % and reaches about 97 % -------------------------------------
# "around 91" read as 91 ± 2, "about 97" as 97 ± 1. Measured, lecture seeds 0-2: epoch 1 CE
# 91.45 ± 0.17, NLL 91.31 ± 0.20, MultiMargin 91.68 ± 0.14; epoch 10 CE 97.08 ± 0.08, NLL
# 97.02 ± 0.03, MultiMargin 97.22 ± 0.18. Smoke seeds 0-9 (a regression guard only): epoch 1
# 60.45..74.55, epoch 3 81.75..84.25 over the three losses.
B2_BANDS = {
    "lecture": ((89.0, 93.0), (96.0, 98.0)),
    "smoke": ((55.0, 80.0), (78.0, 88.0)),
}  # (first-epoch band, last-epoch band), percent


def accuracy_91_to_97(study: Study) -> Evidence:
    """For most (>= 2 of 3) losses, the seed mean of epoch-1 and last-epoch accuracy in the bands."""
    (first_lo, first_hi), (last_lo, last_hi) = _bound(B2_BANDS, study)
    numbers, inside = {}, 0
    for loss in CLASSIFIER_LOSSES:
        curves = study.curves("classification", loss, "accuracy")
        first, last = over_seeds([c[0] for c in curves]), over_seeds([c[-1] for c in curves])
        numbers[f"{loss}_first"], numbers[f"{loss}_last"] = first, last
        inside += first_lo <= first["mean"] <= first_hi and last_lo <= last["mean"] <= last_hi
    summary = ", ".join(f"{k}: {fmt(v, 2)}" for k, v in numbers.items())
    bands = f"[{first_lo}, {first_hi}] then [{last_lo}, {last_hi}]"
    return Evidence(inside >= 2, f"{summary}; {inside}/3 losses inside {bands}", numbers)


# --- B4: NLL and cross entropy boil down to the same cost function -----------------------------
# From one init CE and NLL(log_softmax) run the same kernels: measured gap 0.0 (bit-identical)
# at smoke scale, seeds 0-9. Independent inits, worst epoch gap of the seed means in seed sds
# (the larger of the two sds), over every 3-seed subset: smoke seeds 0-9 (120 subsets) 2.88,
# lecture seeds 0-2: 1.62. An sd from 3 seeds is itself noisy, hence 4.
B4_SHARED_MAX_REL = 1e-6  # max relative CE-NLL loss difference from one shared init
B4_INDEPENDENT_MAX_SDS = 4.0  # CE-NLL gap from independent inits, in seed sds of CE's loss


def _relative_gap(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) / abs(x) for x, y in zip(a, b))


def ce_equals_nll(study: Study) -> Evidence:
    """From one init the curves agree to float precision; from independent inits within seed spread."""
    shared = [
        _relative_gap(ce, nll)
        for ce, nll in zip(
            study.curves("shared_init", "ce", "train_loss"),
            study.curves("shared_init", "nll", "train_loss"),
        )
    ]
    ce = study.curves("classification", "ce", "train_loss")
    nll = study.curves("classification", "nll", "train_loss")
    epochs = range(len(ce[0]))
    gaps_in_sds = []
    for e in epochs:
        ce_e, nll_e = over_seeds([c[e] for c in ce]), over_seeds([c[e] for c in nll])
        spread = max(ce_e["sd"], nll_e["sd"])
        gaps_in_sds.append(abs(ce_e["mean"] - nll_e["mean"]) / spread if spread else float("inf"))
    holds = max(shared) <= B4_SHARED_MAX_REL and max(gaps_in_sds) <= B4_INDEPENDENT_MAX_SDS
    numbers = {"shared_init_max_rel_gap": max(shared), "independent_gap_in_sds": gaps_in_sds}
    summary = (
        f"one init: max relative gap {max(shared):.1e} (bound <= {B4_SHARED_MAX_REL:g}); "
        f"independent inits: worst epoch gap {max(gaps_in_sds):.2f} seed sds "
        f"(bound <= {B4_INDEPENDENT_MAX_SDS})"
    )
    return Evidence(holds, summary, numbers)


# --- B5: MultiMargin has a distinct curve --------------------------------------------------------
# Measured ratio: lecture seeds 0-2: 288; smoke seeds 0-9: 682.
B5_MIN_RATIO = 20.0  # mean |MM - CE| loss gap over mean |NLL - CE| gap


def multimargin_distinct(study: Study) -> Evidence:
    """MultiMargin's loss curve is far from CE's compared with NLL's (seed means, per epoch)."""
    mean_curve = {
        loss: [sum(v) / len(v) for v in zip(*study.curves("classification", loss, "train_loss"))]
        for loss in CLASSIFIER_LOSSES
    }
    ce = mean_curve["ce"]
    mm_gap = sum(abs(a - b) for a, b in zip(mean_curve["multimargin"], ce)) / len(ce)
    nll_gap = sum(abs(a - b) for a, b in zip(mean_curve["nll"], ce)) / len(ce)
    ratio = mm_gap / nll_gap if nll_gap else (float("inf") if mm_gap else 0.0)
    summary = (
        f"mean loss gap to CE: MultiMargin {mm_gap:.4f}, NLL {nll_gap:.4f}, "
        f"ratio {ratio:.1f} (bound >= {B5_MIN_RATIO})"
    )
    return Evidence(ratio >= B5_MIN_RATIO, summary, {"mm_gap": mm_gap, "nll_gap": nll_gap, "ratio": ratio})


# --- B6: accuracy keeps steadily increasing ------------------------------------------------------
# Measured min rho over seeds and losses: lecture seeds 0-2: 0.997 (one tie between epochs
# 8 and 9); smoke seeds 0-9: 1.00.
B6_MIN_TREND = {"lecture": 0.9, "smoke": 0.9}


def accuracy_increases(study: Study) -> Evidence:
    """Per seed and loss, rank correlation of test accuracy with epoch >= the bound."""
    min_trend = _bound(B6_MIN_TREND, study)
    numbers = {
        loss: over_seeds([rank_correlation(c) for c in study.curves("classification", loss, "accuracy")])
        for loss in CLASSIFIER_LOSSES
    }
    holds = all(v["min"] >= min_trend for v in numbers.values())
    summary = ", ".join(f"{k}: {fmt(v, 2)}" for k, v in numbers.items())
    return Evidence(holds, f"accuracy trend {summary}; bound >= {min_trend}", numbers)


# --- B7: comparable accuracy, yet MultiMargin's loss is the lowest --------------------------------
# "almost comparable". Measured spread of the final seed-mean accuracies: lecture seeds 0-2:
# 0.20 points (97.02..97.22); smoke seeds 0-9: 0.83 points. MultiMargin's final loss was the
# lowest in every seed at both scales (~0.008 against ~0.085 at lecture scale).
B7_MAX_SPREAD = {"lecture": 1.0, "smoke": 2.0}  # max - min of final mean accuracies, points


def least_loss_not_best_accuracy(study: Study) -> Evidence:
    """Every seed: MultiMargin's final loss below CE's and NLL's; final accuracies within a band."""
    final_loss = {
        loss: [c[-1] for c in study.curves("classification", loss, "train_loss")]
        for loss in CLASSIFIER_LOSSES
    }
    lowest = all(
        mm < min(ce, nll)
        for mm, ce, nll in zip(final_loss["multimargin"], final_loss["ce"], final_loss["nll"])
    )
    accuracy = {
        loss: over_seeds([c[-1] for c in study.curves("classification", loss, "accuracy")])
        for loss in CLASSIFIER_LOSSES
    }
    means = [v["mean"] for v in accuracy.values()]
    spread = max(means) - min(means)
    max_spread = _bound(B7_MAX_SPREAD, study)
    holds = lowest and spread <= max_spread
    numbers = {
        "final_loss": {k: over_seeds(v) for k, v in final_loss.items()},
        "final_accuracy": accuracy,
        "accuracy_spread": spread,
    }
    summary = (
        f"MultiMargin's final loss lowest in every seed: {lowest}; final accuracy "
        + ", ".join(f"{k} {fmt(v, 2)}" for k, v in accuracy.items())
        + f"; spread of means {spread:.2f} points (bound <= {max_spread})"
    )
    return Evidence(holds, summary, numbers)
