"""How far the lecture's training is from this machine's GEMM floor and from the notebook's loop.

    python benchmarks/floor.py --data-dir D --out benchmarks/results/NAME.json [--skip notebook]

Run it on an otherwise idle machine. In one process it measures:

1. **FLOPs**: one training step and one test-set evaluation of each of the lecture's nets,
   counted by torch's ``FlopCounterMode``, times how often ``reproduce run all --seeds 0`` does
   each (lecture scale: 6000 steps and 11 evaluations per net).
2. **The GEMM floor**: the matrix products of that step and that evaluation, recorded as they
   run and replayed back to back with nothing else in between. Their time is what the run
   would take if it did nothing but its own matmuls at this machine's rate for those shapes:
   with torch's default threads, or with one thread on each core, whichever is faster.
3. **``reproduce run all --seeds 0``**, timed as a user runs it (one process per core, one
   thread each: reproduce.training.pool).
4. **The notebook's loop** (iitkliv/dlvcnptel lecture22.ipynb): torchvision's MNIST with
   ``ToTensor()`` through ``DataLoader(batch_size=100, shuffle=True, num_workers=4)``, torch's
   default (unfused) Adam, a test DataLoader per epoch and scikit-image SSIM of the first test
   image, over the same nets, epochs and seed, with the project's one ``train_step``. The
   project measures more per epoch (SSIM and MAE of the whole test set), so this favours the
   notebook.
5. **The test suite's study**: one seed of each run family, one thread, as the tests train it.
6. **Launch cost** (issue 16): the operations dispatched by one training step of the whole
   study (every net of every family) at lecture scale, for 1 and 5 seeds, on each schedule
   (TorchDispatchMode; on a GPU, about one kernel launch each). Stacked, it must not grow.
7. **The stacked step** at lecture scale for 1 and 5 seeds: its FLOPs, its matmuls' rate replayed
   alone (the fp32 GEMM rate at these shapes), its time and the achieved rate against that.
8. **The schedules**: the study for 5 seeds from an empty run cache, per run (a pool of
   one-thread processes) and stacked (one process), at ``--study-scale`` on the CPU.
9. **The stacked replay path's host share** (issue 25): one steady-state step with a graph whose
   replay is free, on one CPU core: what the host adds to each replay on a card.
10. **Stacked evaluation**: one epoch's test measures of every net of the lecture's stacked
    study, one CPU core, and its share of the stacked study's time.

``--device cuda`` writes the GPU row instead: 6, 7 on the card, and 8 at lecture scale stacked
(the lecture x 5 seeds on one GPU); tools/gpu-check runs it.

It prints a table and writes JSON with the seconds, the achieved GFLOP/s, the ratios to the
floor and to the notebook, and the torch version, CPU model and thread count.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch
from skimage.metrics import structural_similarity
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map_only
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode
from torchvision import datasets, transforms

from reproduce import cli
from reproduce.training import capture, data, devices, experiments, pool, stacked, study
from reproduce.training.config import EXPERIMENTS, QUICK_SCALE, SCHEDULES, RunConfig
from reproduce.training.results import RunCache, environment
from reproduce.training.train import train_step

GEMMS = {torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default}


class CountOps(TorchDispatchMode):
    """Counts the operations dispatched inside it: on a GPU, about one kernel launch each."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def study_step(data_dir: str, seeds, schedule: str, scale: str = "lecture", device: str = "cpu", graph=None):
    """One training step of every net of the study for ``seeds`` on ``schedule``, as the schedule
    steps it (a stack on CUDA: a CUDA graph's replay after its eager warm-up steps): each run's
    minibatch and its nets' steps, or each stack's. Call it again for the next step. ``graph``:
    as stacked.Stack takes it."""
    configs = study.study_configs(seeds, scale=scale, device=device)
    size = configs[0].train_size
    train_x, train_y = data.load_split("mnist", data_dir, train=True, size=size, device=device)
    steps = []  # (the replicas stepped together, their batches, how a step is taken)
    if schedule == "stacked":
        for experiment in EXPERIMENTS:
            stack = stacked.Stack([c for c in configs if c.experiment == experiment], graph)
            steps.append(([stack.replica], stack.batches(train_x, train_y), stack.step))
    else:
        for config in configs:
            order = torch.Generator().manual_seed(config.seed)
            batches = experiments.epoch_batches(config, train_x, train_y, order)
            steps.append((experiments.build_replicas(config), batches, train_step))

    def step():
        for replicas, batches, take in steps:
            inputs, targets = next(batches)
            for r in replicas:
                take(r.net, r.optimizer, r.criterion, inputs, targets)

    return step


def ops_per_study_step(data_dir: str, seeds, schedule: str, scale: str = "lecture") -> int:
    """Operations dispatched by one training step of every net of the study (:func:`study_step`).
    The second step of an epoch is counted, so the epoch's shuffle is not."""
    step = study_step(data_dir, seeds, schedule, scale)
    step()
    with CountOps() as counter:
        step()
    return counter.count


class RecordGemms(TorchDispatchMode):
    """Keeps every matrix product that runs inside it, with its operands, to replay later."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in GEMMS:  # detached: the replay times the product, not autograd
            self.calls.append((func, *tree_map_only(torch.Tensor, torch.Tensor.detach, (args, kwargs))))
        return func(*args, **kwargs)


def best_seconds(fn, repeats: int = 5, calls: int = 20) -> float:
    """Fastest mean over ``repeats`` rounds of ``calls``: the round least disturbed by anything else."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def recorded(work, device: str = "cpu"):
    """``work``'s FLOPs (FlopCounterMode) and a function that replays its matmuls alone."""
    with FlopCounterMode(display=False) as counter:
        work()
    with RecordGemms() as recorder:
        work()

    @torch.no_grad()
    def replay():
        for func, args, kwargs in recorder.calls:
            func(*args, **kwargs)
        synchronize(device)

    return counter.get_total_flops(), replay


def profile(work, calls: int) -> tuple[int, dict[str, float]]:
    """``work``'s FLOPs and the best time of its matmuls replayed alone, with torch's threads and
    with one thread (the time one of ``cores`` side-by-side runs takes)."""
    flops, replay = recorded(work)
    with pool.one_thread():
        one_thread = best_seconds(replay, calls=calls)
    return flops, {"threads": best_seconds(replay, calls=calls), "one_thread": one_thread}


def count_run_all(data_dir: str) -> dict:
    """FLOPs of ``run all`` (lecture scale, seed 0) and the seconds its matmuls alone take.

    Two floors: the matmuls at torch's thread count, one after another; and at one thread,
    spread over every core (the CLI's way). The floor is the faster of the two.
    """
    test_x, test_y = data.load_split("mnist", data_dir, train=False, size=10_000)
    train_x, train_y = data.load_split("mnist", data_dir, train=True, size=100)
    counts = {}
    for experiment in EXPERIMENTS:
        config = RunConfig.at_scale(experiment)
        steps = config.epochs * (config.train_size // config.batch_size)
        evaluations = config.epochs + 1  # the untrained nets too
        targets = train_x if experiment == "regression" else train_y
        flops, seconds = 0.0, {"threads": 0.0, "one_thread": 0.0}
        for r in experiments.build_replicas(config):
            step = partial(train_step, r.net, r.optimizer, r.criterion, train_x, targets)
            step_flops, step_seconds = profile(step, calls=20)
            evaluation = partial(experiments.evaluate, config, r.net, test_x, test_y)
            eval_flops, eval_seconds = profile(evaluation, calls=2)
            flops += steps * step_flops + evaluations * eval_flops
            for way in seconds:
                seconds[way] += steps * step_seconds[way] + evaluations * eval_seconds[way]
        counts[experiment] = {"flops": flops, "gemm_seconds": seconds}
    return counts


def floor_of(counts: dict, cores: int) -> dict:
    """The run's FLOPs, both floors in seconds, the floor and its GEMM rate."""
    flops = sum(c["flops"] for c in counts.values())
    threads = sum(c["gemm_seconds"]["threads"] for c in counts.values())
    spread = sum(c["gemm_seconds"]["one_thread"] for c in counts.values()) / cores
    floor = min(threads, spread)
    return {
        "flops": flops,
        "floor_seconds_threads": threads,
        "floor_seconds_one_thread_per_core": spread,
        "floor_seconds": floor,
        "gemm_gflops": flops / floor / 1e9,
    }


def square_gemm_gflops(n: int = 2048) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / best_seconds(lambda: a @ b, calls=3) / 1e9


def time_run_all(data_dir: str) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        argv = ["run", "all", "--seeds", "0", "--out", out, "--data-dir", data_dir]
        if cli.main([*argv, "--no-download", "--no-progress"]) != 0:
            raise SystemExit("reproduce run all failed")
        return time.perf_counter() - start


def time_notebook_loop(data_dir: str) -> float:
    start = time.perf_counter()
    to_tensor = transforms.Compose([transforms.ToTensor()])
    train = datasets.MNIST(data_dir, train=True, transform=to_tensor)
    test = datasets.MNIST(data_dir, train=False, transform=to_tensor)
    loader = DataLoader(train, batch_size=100, shuffle=True, num_workers=4)
    test_loader = DataLoader(test, batch_size=100, shuffle=False, num_workers=4)
    first_test = test[0][0].view(-1, 28 * 28)
    for experiment in EXPERIMENTS:
        config = RunConfig.at_scale(experiment, fused_adam=False)  # the notebook's Adam
        replicas = experiments.build_replicas(config)
        for _ in range(config.epochs):
            for inputs, labels in loader:
                inputs = inputs.view(-1, 28 * 28)
                target = inputs if experiment == "regression" else labels
                for r in replicas:
                    train_step(r.net, r.optimizer, r.criterion, inputs, target).item()
            with torch.no_grad():
                for r in replicas:
                    r.net.eval()
                    if experiment == "regression":
                        out = r.net(first_test).view(28, 28).double().numpy()
                        structural_similarity(out, first_test.view(28, 28).double().numpy(), data_range=2.0)
                    else:
                        for inputs, labels in test_loader:
                            (r.net(inputs.view(-1, 28 * 28)).argmax(1) == labels).sum().item()
    return time.perf_counter() - start


def stacked_step(data_dir: str, seeds, device: str) -> dict:
    """The lecture's study for ``seeds`` stacked, one training step: its FLOPs, the rate of its own
    matmuls replayed alone (the device's fp32 GEMM rate at these shapes), the step's time, and
    the achieved rate against that one."""
    step = study_step(data_dir, seeds, "stacked", device=device)
    step()
    flops, replay = recorded(step, device)  # steps 2 and 3: eager, within a graph's warm-up
    with pool.one_thread():  # as the study trains on the CPU; a GPU is not affected
        gemm_seconds = best_seconds(replay, calls=10)
        step_seconds = best_seconds(lambda: (step(), synchronize(device)), calls=10)
    nets = sum(len(c.losses) for c in study.study_configs(seeds))
    return {
        "seeds": len(seeds),
        "nets": nets,
        "flops_per_step": flops,
        "gemm_gflops_at_these_shapes": flops / gemm_seconds / 1e9,  # the matmuls are ~all the FLOPs
        "step_seconds": step_seconds,
        "achieved_gflops": flops / step_seconds / 1e9,
        "over_gemm_floor": step_seconds / gemm_seconds,
        "net_steps_per_second": nets / step_seconds,
    }


class FreeGraph:
    """A CUDA graph whose replay costs nothing: what is left of a replayed step is the host's
    share (the minibatch's gather, the copies into the static buffers, the loss's clone)."""

    def __init__(self, stack):
        pass

    def warm_up(self, step):
        return step()

    def capture(self, step):
        return step()

    def replay(self):
        pass


def replay_path(data_dir: str, seeds) -> dict:
    """One steady-state step of the stacked study on the replay path, the graph's own work left
    out (:class:`FreeGraph`), on one CPU core: its seconds and the operations it dispatches."""
    step = study_step(data_dir, seeds, "stacked", graph=FreeGraph)
    for _ in range(capture.CapturedStep.WARMUP + 1):  # the warm-up steps, then the capture
        step()
    with CountOps() as counter:
        step()
    with pool.one_thread():
        seconds = best_seconds(step, calls=20)
    return {"seeds": len(seeds), "host_seconds_per_step": seconds, "dispatched_ops": counter.count}


def stacked_evaluation(data_dir: str, seeds, step_seconds: float) -> dict:
    """One epoch's evaluation of the lecture's stacked study for ``seeds`` (every net on the
    whole test set, both experiments), on one CPU core, and its share of the study's time: 11
    evaluations against 6000 steps of ``step_seconds``."""
    configs = study.study_configs(seeds)
    test_x, test_y = data.load_split("mnist", data_dir, train=False, size=configs[0].test_size)
    stacks = [stacked.Stack([c for c in configs if c.experiment == e]) for e in EXPERIMENTS]
    with pool.one_thread():
        seconds = best_seconds(lambda: [s.measure(test_x, test_y) for s in stacks], repeats=2, calls=1)
    scale = configs[0]
    evaluations = scale.epochs + 1
    steps = scale.epochs * -(-scale.train_size // scale.batch_size)
    share = evaluations * seconds / (evaluations * seconds + steps * step_seconds)
    return {"seeds": len(seeds), "seconds_per_epoch": seconds, "share_of_the_study": share}


def time_schedules(data_dir: str, seeds, scale: str, device: str) -> dict[str, float]:
    """The study for ``seeds`` from an empty run cache on each schedule, in seconds: per run in a
    pool of one-thread processes (one per core), and stacked in this process."""
    seconds = {}
    schedules = ("per-run", "stacked") if device == "cpu" else ("stacked",)
    for schedule in schedules:
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            study.train_study(
                seeds,
                data_dir=data_dir,
                cache=RunCache(cache),
                scale=scale,
                device=device,
                schedule=schedule,
                workers=pool.default_workers(),
            )
            seconds[schedule] = time.perf_counter() - start
    return seconds


def time_study(data_dir: str, scale: str) -> dict[str, float]:
    """Seconds per run family, seed 0, one thread: how the tests train the study."""
    with pool.one_thread():
        return {
            study.family_of(config): experiments.run(config, data_dir).seconds
            for config in study.study_configs([0], scale=scale)
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda: the GPU row")
    parser.add_argument(
        "--skip", nargs="+", default=[], choices=("run-all", "notebook", "study", "schedules")
    )
    parser.add_argument("--study-scale", default=QUICK_SCALE, help="the study's scale (default: smoke)")
    args = parser.parse_args()
    if args.device == "cpu":
        result, lines = cpu_rows(args)
    else:
        result, lines = {"environment": environment(args.device)}, [devices.identity(args.device)["gpu_name"]]
    result["dispatched_ops_per_study_step"] = {
        schedule: {str(n): ops_per_study_step(args.data_dir, range(n), schedule) for n in (1, 5)}
        for schedule in SCHEDULES
    }
    for schedule, counts in result["dispatched_ops_per_study_step"].items():
        lines.append(
            f"ops dispatched per study step, {schedule}: {counts['1']} (1 seed), {counts['5']} (5 seeds)"
        )
    result["stacked_step"] = [stacked_step(args.data_dir, range(n), args.device) for n in (1, 5)]
    for row in result["stacked_step"]:
        lines.append(
            f"stacked step, lecture, {row['seeds']} seed(s), {row['nets']} nets: "
            f"{row['step_seconds'] * 1e3:.2f} ms, "
            f"{row['achieved_gflops']:.0f} GFLOP/s against {row['gemm_gflops_at_these_shapes']:.0f} for its "
            f"matmuls alone ({row['over_gemm_floor']:.2f}x), {row['net_steps_per_second']:.0f} net-steps/s"
        )
    if args.device == "cpu":
        result["replay_path"] = [replay_path(args.data_dir, range(n)) for n in (1, 5)]
        for row in result["replay_path"]:
            lines.append(
                f"stacked replay path, host's share, {row['seeds']} seed(s): "
                f"{row['host_seconds_per_step'] * 1e3:.2f} ms and {row['dispatched_ops']} ops a step"
            )
        steps = {row["seeds"]: row["step_seconds"] for row in result["stacked_step"]}
        result["stacked_evaluation"] = [stacked_evaluation(args.data_dir, range(n), steps[n]) for n in (1, 5)]
        for row in result["stacked_evaluation"]:
            lines.append(
                f"stacked evaluation, lecture, {row['seeds']} seed(s): {row['seconds_per_epoch']:.2f} s an "
                f"epoch, {100 * row['share_of_the_study']:.1f} % of the stacked study on one core"
            )
    if "schedules" not in args.skip:
        seeds, scale = (range(5), "lecture") if args.device != "cpu" else (range(5), args.study_scale)
        seconds = time_schedules(args.data_dir, seeds, scale, args.device)
        result["schedules"] = {"scale": scale, "seeds": len(seeds), "seconds": seconds}
        lines.append(
            f"the study, {scale} scale, 5 seeds, from an empty cache: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
        )
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


def cpu_rows(args) -> tuple[dict, list[str]]:
    """The CPU's rows: the GEMM floor of ``run all``, its time, the notebook's loop, the study."""
    env = environment("cpu")
    result = {
        "environment": {k: env[k] for k in ("torch", "python", "cpu_model", "cpu_capability", "threads")},
        "square_gemm_gflops_2048": square_gemm_gflops(),
        "cores": pool.default_workers(),
    }
    counts = count_run_all(args.data_dir)
    result["run_all"] = floor_of(counts, result["cores"]) | {"per_experiment": counts}
    flops, floor = result["run_all"]["flops"], result["run_all"]["floor_seconds"]
    lines = [
        f"{env['cpu_model']} ({env['cpu_capability']}), {result['cores']} cores, torch {env['torch']}",
        f"fp32 GEMM 2048^3 with {env['threads']} threads: {result['square_gemm_gflops_2048']:.0f} GFLOP/s",
        f"run all, seed 0: {flops / 1e12:.2f} TFLOP (FlopCounterMode); its matmuls alone take "
        f"{result['run_all']['floor_seconds_threads']:.1f} s with {env['threads']} threads, "
        f"{result['run_all']['floor_seconds_one_thread_per_core']:.1f} s one thread per core: "
        f"the floor is {floor:.1f} s ({result['run_all']['gemm_gflops']:.0f} GFLOP/s)",
    ]
    if "run-all" not in args.skip:
        seconds = time_run_all(args.data_dir)
        result["run_all"] |= {"seconds": seconds, "achieved_gflops": flops / seconds / 1e9}
        result["run_all"]["over_floor"] = seconds / floor
        lines.append(
            f"run all took {seconds:.1f} s: {flops / seconds / 1e9:.0f} GFLOP/s, "
            f"{seconds / floor:.2f}x its floor"
        )
    if "notebook" not in args.skip:
        seconds = time_notebook_loop(args.data_dir)
        result["notebook_loop"] = {"seconds": seconds}
        lines.append(f"the notebook's loop took {seconds:.1f} s")
        if "seconds" in result["run_all"]:
            ratio = seconds / result["run_all"]["seconds"]
            result["notebook_loop"]["over_run_all"] = ratio
            lines.append(f"run all is {ratio:.2f}x faster than the notebook's loop")
    if "study" not in args.skip:
        result["study"] = {"scale": args.study_scale, "seconds": time_study(args.data_dir, args.study_scale)}
        per_family = ", ".join(f"{f} {s:.1f} s" for f, s in result["study"]["seconds"].items())
        lines.append(f"study at {args.study_scale} scale, seed 0, 1 thread: {per_family}")
    return result, lines


if __name__ == "__main__":
    main()
