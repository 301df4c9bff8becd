"""The runs the lecture's claims are judged on, and their results grouped over seeds.

What this repository trains, per seed (``FAMILIES``, the study's plan; each run trained once and
shared by every claim that reads it):

- ``regression``: the lecture's MSE and L1 autoencoders plus the Lp norms it mentions
  (p = 3, 4, 5, claim A7). Inits are drawn in order, so ``mse`` and ``l1`` start exactly as
  in a run of the lecture's two nets alone.
- ``classification``: CE, NLL, MultiMargin as in the notebook, plus ``nll_raw``, the negative
  control of claim B1 (NLL fed raw scores).
- ``shared_init``: CE and NLL from one shared init (claim B4's exact check).
- ``replicate``: the lecture's two autoencoders alone, first seed only: a second, separate
  run whose curves must equal the ``regression`` run's bit for bit (claim A5).

What a :class:`Study` holds is whatever was trained, by us or by a course's notebook: runs are
grouped by *family*, their experiment and whether their nets share one init, whatever their
losses. A second run of a family and seed is a *replay*. A claim declares the :class:`Nets` it
reads, and is judged where they are present; the plan only says what this repository trains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType

from tqdm.auto import tqdm

from reproduce.judging.evidence import CannotJudge
from reproduce.training import experiments, pool, stacked
from reproduce.training.config import LECTURE_LOSSES, RunConfig, schedule_for
from reproduce.training.results import History, RunCache, RunResult

FAMILIES = {
    "regression": dict(experiment="regression", losses=LECTURE_LOSSES["regression"] + ("lp3", "lp4", "lp5")),
    "classification": dict(
        experiment="classification", losses=LECTURE_LOSSES["classification"] + ("nll_raw",)
    ),
    "shared_init": dict(experiment="classification", losses=("ce", "nll"), shared_init=True),
    "replicate": dict(experiment="regression", losses=LECTURE_LOSSES["regression"]),
}
FIRST_SEED_ONLY = {"replicate"}
# The families whose curves are their own: "replicate" repeats regression's first seed.
DISTINCT_FAMILIES = tuple(f for f in FAMILIES if f not in FIRST_SEED_ONLY)
MIN_SEEDS = 2  # claims are judged over seeds: a spread needs two


def study_configs(
    seeds: Sequence[int],
    *,
    scale: str = "lecture",
    dataset: str = "mnist",
    device: str = "cpu",
    families: Sequence[str] = tuple(FAMILIES),
    recipe: Mapping[str, object] = MappingProxyType({}),
) -> list[RunConfig]:
    """Every run of the study, family by family, seed by seed; ``recipe``: other RunConfig fields."""
    return [
        RunConfig.at_scale(
            **FAMILIES[family], scale=scale, seed=seed, dataset=dataset, device=device, **recipe
        )
        for family in families
        for seed in (seeds[:1] if family in FIRST_SEED_ONLY else seeds)
    ]


def train_study(
    seeds: Sequence[int],
    *,
    data_dir,
    cache: RunCache,
    scale: str = "lecture",
    dataset: str = "mnist",
    device: str = "cpu",
    families: Sequence[str] = tuple(FAMILIES),
    recipe: Mapping[str, object] = MappingProxyType({}),
    progress: bool = False,
    workers: int = 1,
    schedule: str | None = None,
) -> Study:
    """The study's runs, each trained once: taken from ``cache`` or trained and put there.

    The CLI and the test suite both call this, and every run trains with one thread, so a run
    the tests trained serves the CLI too (same config, code and versions). ``workers`` > 1
    trains the missing runs side by side in that many processes (reproduce.training.pool).
    ``schedule`` (config.SCHEDULES; default and fallback: config.schedule_for): ``stacked`` trains every
    run of the study for ``seeds``, whichever ``families`` are asked for, as one stack
    (reproduce.training.stacked), so that a run's stack, and so its bits, never depend on the caller.
    """
    schedule = schedule_for(schedule, device)
    configs = study_configs(
        seeds, scale=scale, dataset=dataset, device=device, families=families, recipe=recipe
    )
    if schedule == "stacked":
        every = study_configs(seeds, scale=scale, dataset=dataset, device=device, recipe=recipe)
        train_all = partial(stacked.run, data_dir=data_dir, progress=progress)
        with pool.one_thread():
            results = cache.ensure_stack(every, train_all, stack=stacked.stack_id(every))
        return Study.of([r for r in results if r.config in configs])
    with pool.one_thread():
        # A file check, not a load: cache.ensure below reads every run once.
        missing = [c for c in configs if not cache.path(c).is_file()] if workers > 1 else []
        if len(missing) > 1:
            train = partial(experiments.run, data_dir=data_dir)
            bar = tqdm(total=len(missing), desc="training", unit="run", disable=not progress)
            with bar:
                for result in pool.each(partial(_cached, cache, train), missing, workers=workers):
                    bar.write(f"trained {result.config.label()} ({result.seconds:.0f} s)")
                    bar.update()
        return Study.of(cache.ensure(configs, partial(experiments.run, data_dir=data_dir, progress=progress)))


def _cached(cache: RunCache, train, config: RunConfig) -> RunResult:
    """One run from the cache, trained and put there if missing (in a pool's process)."""
    return cache.ensure([config], train)[0]


def family_of(config: RunConfig) -> str:
    """The family a run belongs to: its experiment and whether its nets share one init.

    Losses do not matter: a course's regression run of ``mse`` and ``l1`` alone is as much a
    ``regression`` run as ours with the Lp nets beside them.
    """
    return _family(config.experiment, config.shared_init)


def _family(experiment: str, shared_init: bool) -> str:
    for family in DISTINCT_FAMILIES:
        fields = FAMILIES[family]
        if (fields["experiment"], fields.get("shared_init", False)) == (experiment, shared_init):
            return family
    return f"{experiment}_shared_init"  # trained by nobody here, read by no claim, still accepted


def init_index(config: RunConfig, loss: str) -> int:
    """Which draw from the seed a net starts from: its place in ``losses``, or the first one's
    under a shared init. Two nets of one experiment and seed with the same loss and draw are
    the same training twice, and must give the same bits (a replay)."""
    return 0 if config.shared_init else config.losses.index(loss)


@dataclass(frozen=True)
class Nets:
    """Nets a claim reads: those trained with ``losses`` in one family, over every seed it has.

    ``replayed``: one of them also trained again, in a separate run of the same seed and init
    (what tells "randomly initialised nets start apart" from run-to-run noise).
    """

    experiment: str
    losses: tuple[str, ...]
    shared_init: bool = False
    replayed: bool = False

    @property
    def family(self) -> str:
        return _family(self.experiment, self.shared_init)

    def describe(self) -> str:
        shared = " from one shared init" if self.shared_init else ""
        replay = ", one of them trained twice from one seed and init" if self.replayed else ""
        return f"{self.experiment} nets {' '.join(self.losses)}{shared}{replay}"

    def missing_from(self, study: Study) -> str | None:
        """None where ``study`` holds these nets over >= 2 seeds; else what is missing."""
        runs = study.runs.get(self.family, [])
        absent = [loss for loss in self.losses if not runs or any(loss not in r.histories for r in runs)]
        if absent:
            return f"needs {self.describe()}; the results have no {' '.join(absent)} {self.family} nets"
        if len(runs) < MIN_SEEDS:
            return f"needs {self.describe()} over at least {MIN_SEEDS} seeds; the results have {len(runs)}"
        if self.replayed and not study.replay_pairs(self.family, self.losses):
            return (
                f"needs {self.describe()}; the results hold no second run of a seed with one of "
                "them from the same init, so different starts cannot be told from run-to-run noise"
            )
        return None

    def trained_by(self) -> tuple[str, ...]:
        """The families of this repository's plan that train these nets (and their replay)."""
        own = self.family
        if own not in DISTINCT_FAMILIES or not set(self.losses) <= set(FAMILIES[own]["losses"]):
            return ()
        if not self.replayed:
            return (own,)
        mine = RunConfig.at_scale(**FAMILIES[own])
        replays = [
            f
            for f in FAMILIES
            if f != own
            and FAMILIES[f]["experiment"] == self.experiment
            and any(
                loss in FAMILIES[f]["losses"]
                and init_index(RunConfig.at_scale(**FAMILIES[f]), loss) == init_index(mine, loss)
                for loss in self.losses
            )
        ]
        return (own, *replays[:1])


def families_for(nets: Sequence[Nets]) -> tuple[str, ...]:
    """The plan's families that train every net in ``nets``, in the plan's order."""
    needed = {family for n in nets for family in n.trained_by()}
    return tuple(f for f in FAMILIES if f in needed)


@dataclass
class Study:
    """Results grouped by family: ``study.curves("classification", "ce", "accuracy")``.

    ``runs``: per family, one run per seed (the one with the most nets), in seed order;
    ``replays``: every further run of a family and seed, kept for the replay checks.
    """

    runs: dict[str, list[RunResult]]
    replays: list[RunResult] = field(default_factory=list)

    @classmethod
    def of(cls, results: Sequence[RunResult]) -> Study:
        runs: dict[str, list[RunResult]] = {}
        replays = []
        for result in sorted(results, key=_first_runs_first):
            seeds = runs.setdefault(family_of(result.config), [])
            if any(r.config.seed == result.config.seed for r in seeds):
                replays.append(result)
            else:
                seeds.append(result)
        order = list(FAMILIES)
        runs = {
            f: runs[f] for f in sorted(runs, key=lambda f: (order.index(f) if f in order else len(order), f))
        }
        return cls(runs, replays)

    @property
    def results(self) -> list[RunResult]:
        """Every run, family by family, then the replays."""
        return [run for family in self.runs.values() for run in family] + self.replays

    def placed(self) -> list[tuple[str, RunResult]]:
        """(folder, run) for saving: a replay has its original's label, so it goes to ``replicate``."""
        return [(f, r) for f, runs in self.runs.items() for r in runs] + [
            ("replicate", r) for r in self.replays
        ]

    @property
    def seeds(self) -> list[int]:
        return sorted({r.config.seed for r in self.results})

    @property
    def scale(self) -> str:
        return self.results[0].config.scale

    @property
    def dataset(self) -> str:
        return self.results[0].config.dataset

    def histories(self, family: str, loss: str) -> list[History]:
        """One history per seed for ``loss``'s net in ``family``'s runs."""
        runs = self.runs.get(family, [])
        if not runs or any(loss not in r.histories for r in runs):
            have = sorted({loss for r in runs for loss in r.histories})
            raise MissingNets(f"the results have no {loss} net in every {family} run (they have {have})")
        return [run.histories[loss] for run in runs]

    def curves(self, family: str, loss: str, measure: str) -> list[list[float]]:
        """Per seed, the per-epoch values of ``measure`` (``train_loss`` or a test measure)."""
        return [h.curve(measure) for h in self.histories(family, loss)]

    def replay_pairs(self, family: str, losses: Sequence[str]) -> list[tuple[str, History, History]]:
        """(which, first, replay): each of ``family``'s nets with ``losses`` trained again in
        another run of the same experiment and seed, from the same init."""
        pairs = []
        for original in self.runs.get(family, []):
            for other in self.results:
                same_run = (other.config.experiment, other.config.seed) == (
                    original.config.experiment,
                    original.config.seed,
                )
                if other is original or not same_run:
                    continue
                for loss in losses:
                    if (
                        loss in original.histories
                        and loss in other.histories
                        and init_index(original.config, loss) == init_index(other.config, loss)
                    ):
                        runs = " and ".join(" ".join(r.config.losses) for r in (original, other))
                        which = f"seed {original.config.seed}'s {loss} net (in the runs of {runs})"
                        pairs.append((which, original.histories[loss], other.histories[loss]))
        return pairs


def _first_runs_first(result: RunResult) -> tuple:
    """A seed's run with the most nets is its family's first run; the others are replays."""
    return (result.config.seed, -len(result.config.losses), result.config.losses)


class MissingNets(CannotJudge):
    """A claim read nets the results do not hold."""
