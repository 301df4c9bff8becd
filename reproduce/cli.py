"""``reproduce``: run the lecture, judge its claims, check the data.

    reproduce run all --out results/          # the lecture's two experiments, JSON + figures
    reproduce claims --out report/            # the claims study + report.md + figures
    reproduce compare OLD/ NEW/ --out drift/  # how far NEW's curves and verdicts moved from OLD's
    reproduce data --data-dir D [--download]  # verify (or fetch) MNIST / Fashion-MNIST

Every known failure (bad argument, missing or damaged data, a diverging loss) is one line
on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings
from functools import partial

from reproduce.cli_parser import EXIT_ERROR, build_parser
from reproduce.training.config import EXPERIMENTS, ScheduleFallback

EXIT_MISMATCH = 1  # a claim differs from its expected verdict, or a curve shifted
TRACEBACK_VAR = "REPRODUCE_TRACEBACK"  # set: a known failure prints its traceback too


def _check_device(device: str) -> None:
    """Before any data is read: CUDA present, the ordinal visible, no TF32 (devices.check)."""
    from reproduce.training import devices

    devices.check(device)


def _workers(args) -> int:
    """One per core on the CPU (each run trains with one thread); CUDA runs one at a time."""
    from reproduce.training import devices, pool

    if devices.is_cuda(args.device):
        return 1
    return args.workers or pool.default_workers()


def cmd_run(args) -> int:
    from reproduce import report
    from reproduce.training import data, experiments, pool, stacked
    from reproduce.training.config import RunConfig, schedule_for

    chosen = EXPERIMENTS if args.experiment == "all" else (args.experiment,)
    if args.losses and len(chosen) > 1:
        raise ValueError("expected one experiment with --losses, got 'all'; name the experiment")
    fields = {"losses": tuple(args.losses)} if args.losses else {}
    if args.epochs:
        fields["epochs"] = args.epochs
    configs = [
        RunConfig.at_scale(
            experiment, args.scale, seed=seed, dataset=args.dataset, device=args.device, **fields
        )
        for experiment in chosen
        for seed in args.seeds
    ]
    _check_device(args.device)
    root = data.resolve_data_dir(args.data_dir)
    data.ensure(args.dataset, root, fetch_missing=not args.no_download)
    if schedule_for(args.schedule, args.device) == "stacked":  # every run in one go
        trained = stacked.run(configs, root, progress=not args.no_progress)
    else:  # each run lands as soon as it is done
        workers = _workers(args)
        train = partial(experiments.run, data_dir=root, progress=workers == 1 and not args.no_progress)
        trained = pool.each(train, configs, workers=workers)
    results = []
    for result in trained:
        path = args.out / "runs" / f"{result.config.label()}.json"
        result.save(path)
        results.append(result)
        _print_summary(result, path)
    results.sort(key=lambda r: configs.index(r.config))
    for path in report.figures(results, args.out / "figures"):
        print(f"figure: {path}")
    return 0


def _print_summary(result, path) -> None:
    parts = []
    for loss, h in result.histories.items():
        last = {k: v[-1] for k, v in h.metrics.items()}
        shown = ", ".join(f"{k} {v:.4g}" for k, v in last.items())
        parts.append(f"{loss}: loss {h.train_loss[-1]:.4g}, {shown}")
    print(f"{result.config.label()} ({result.seconds:.0f} s) -> {path}\n  " + "\n  ".join(parts))


def cmd_claims(args) -> int:
    """Exit 1 where a judged claim differs from its expected verdict or a curve shifted against
    the shipped reference; 2 where nothing could be judged; else 0."""
    from reproduce import report
    from reproduce.judging import compare, paired, references
    from reproduce.judging.claims import CLAIMS, families_needed
    from reproduce.training import data
    from reproduce.training.results import RunCache, default_cache_dir, write_json_atomic
    from reproduce.training.study import train_study

    if args.results:  # written elsewhere (reproduce.judging.external): nothing is trained
        from reproduce.judging import external

        study = external.load_study(args.results)
        judgements = [
            claim.judge(study) if claim.nets else claim.not_judged(external.why_not_judged(claim, study))
            for claim in CLAIMS
        ]
    else:
        if len(args.seeds) < 2:
            raise ValueError(f"expected at least 2 --seeds to judge claims over, got {args.seeds}")
        _check_device(args.device)
        root = data.resolve_data_dir(args.data_dir)
        data.ensure(args.dataset, root, fetch_missing=not args.no_download)
        study = train_study(
            args.seeds,
            data_dir=root,
            cache=RunCache(args.cache_dir or default_cache_dir()),
            scale=args.scale,
            dataset=args.dataset,
            device=args.device,
            families=families_needed(),
            progress=not args.no_progress,
            workers=_workers(args),
            schedule=args.schedule,
        )
        judgements = [claim.judge(study) for claim in CLAIMS]
    curves = compare.judge_curves(
        study, references.load(study.dataset, study.scale), paired.shipped(study.dataset, study.scale)
    )
    judged = [j for j in judgements if j.evidence.holds is not None]
    if not judged and not curves["curves_judged"]:
        raise ValueError(
            f"nothing to judge: the results hold {compare.holdings(study)}, none of the nets any claim "
            "reads, and no curve the reference has"
        )
    for folder, result in study.placed():
        result.save(args.out / "runs" / folder / f"{result.config.label()}.json")
    figure_paths = report.figures(study.results, args.out / "figures")
    (args.out / "report.md").write_text(
        report.claims_markdown(judgements, study.results, figure_paths, args.out, curves)
    )
    write_json_atomic(args.out / "claims.json", [report.claim_record(j) for j in judgements])
    write_json_atomic(args.out / "curves.json", curves)
    # Results from elsewhere need not hold every net: a claim they cannot inform is no failure.
    # Our own study trains every net, so there "not judged" is one.
    differing = [
        j for j in judgements if not j.as_expected and (j.evidence.holds is not None or not args.results)
    ]
    for j in judgements:
        if j.evidence.holds is None and args.results:
            print(f"skipped {j.claim.name:32s} not judged: {j.evidence.summary}")
        else:
            flag = "DIFFERS" if j in differing else "ok     "
            print(f"{flag} {j.claim.name:32s} {j.verdict:10s} {j.evidence.summary}")
    for line in compare.curves_lines(curves):
        print(line)
    (args.out / "summary.md").write_text(report.summary_markdown(judgements, differing, curves))
    if args.annotate:  # GitHub reads these from the step's output
        print("\n".join(report.annotations(judgements, differing, curves, args.annotate)))
    print(f"report: {args.out / 'report.md'} (in short: {args.out / 'summary.md'})")
    failures = [j.claim.name for j in differing]
    if failures:
        print(
            f"reproduce: {len(failures)} claim(s) differ from the expected verdict: {', '.join(failures)}",
            file=sys.stderr,
        )
    shifted = compare.shifted(curves)
    if shifted:
        print(
            "reproduce: curves shifted beyond the reference distribution or the paired seeds' "
            "floating-point noise (see above)",
            file=sys.stderr,
        )
    return EXIT_MISMATCH if failures or shifted else 0


def cmd_compare(args) -> int:
    """Exit 1 where a claim's verdict changed or a curve shifted significantly, else 0."""
    from reproduce.judging import compare

    report = compare.write(args.baseline, args.results, args.out)
    print(f"drift report: {args.out / 'drift.md'}")
    return EXIT_MISMATCH if compare.changed(report) else 0


def cmd_data(args) -> int:
    from reproduce.training import data

    root = data.resolve_data_dir(args.data_dir)
    names = list(data.DATASETS) if args.dataset == "all" else [args.dataset]
    for name in names:
        data.ensure(name, root, fetch_missing=args.download)
        print(f"{name}: all {len(data.DATASETS[name].sha256)} files verified under {root}")
    return 0


def _said_in_one_line(show, message, category, *args, **kwargs) -> None:
    """A schedule's fallback as one line of the CLI's own; any other warning as Python shows it."""
    if issubclass(category, ScheduleFallback):
        print(f"reproduce: warning: {message}", file=sys.stderr)
    else:
        show(message, category, *args, **kwargs)


def _failed(message: str) -> int:
    """A known failure in one line; under ``REPRODUCE_TRACEBACK=1`` (tools/gpu-check's logs) its
    traceback first."""
    if os.environ.get(TRACEBACK_VAR, "") not in ("", "0"):
        traceback.print_exc()
    print(f"reproduce: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def main(argv=None) -> int:
    from reproduce.training import devices  # imported first: it pins CUDA's numerics before any CUDA call
    from reproduce.training.data import DataError
    from reproduce.training.train import TrainingDiverged

    try:
        args = build_parser(__doc__.split("\n")[0]).parse_args(argv)
    except SystemExit as done:  # --help, or a usage error already printed as one line
        return done.code
    command = {"run": cmd_run, "claims": cmd_claims, "compare": cmd_compare, "data": cmd_data}[args.command]
    try:
        with warnings.catch_warnings():
            warnings.showwarning = partial(_said_in_one_line, warnings.showwarning)
            return command(args)
    except (DataError, TrainingDiverged, devices.DeviceError, ValueError, TypeError, OSError) as error:
        return _failed(str(error))
    except RuntimeError as error:  # CUDA's own: cuBLAS config, out of memory, a driver error
        message = devices.gpu_error(error)
        if message is None:
            raise  # not a known failure but a bug: its traceback is wanted
        return _failed(message)
    except KeyboardInterrupt:
        print("reproduce: interrupted; finished runs are kept", file=sys.stderr)
        return 130
