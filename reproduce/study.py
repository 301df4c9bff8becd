"""The runs the lecture's claims are judged on, and their results grouped over seeds.

Three run families per seed, each trained once and shared by every claim that reads it:

- ``regression``: the lecture's MSE and L1 autoencoders plus the Lp norms it mentions
  (p = 3, 4, 5, claim A7). Inits are drawn in order, so ``mse`` and ``l1`` start exactly as
  in a run of the lecture's two nets alone.
- ``classification``: CE, NLL, MultiMargin as in the notebook, plus ``nll_raw``, the negative
  control of claim B1 (NLL fed raw scores).
- ``shared_init``: CE and NLL from one shared init (claim B4's exact check).
- ``replicate``: the lecture's two autoencoders alone, first seed only: a second, separate
  run whose curves must equal the ``regression`` run's bit for bit (claim A5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType

from tqdm.auto import tqdm

from reproduce import experiments, pool
from reproduce.config import LECTURE_LOSSES, RunConfig
from reproduce.results import History, RunCache, RunResult

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
) -> Study:
    """The study's runs, each trained once: taken from ``cache`` or trained and put there.

    The CLI and the test suite both call this, and every run trains with one thread, so a run
    the tests trained serves the CLI too (same config, code and versions). ``workers`` > 1
    trains the missing runs side by side in that many processes (reproduce.pool).
    """
    configs = study_configs(
        seeds, scale=scale, dataset=dataset, device=device, families=families, recipe=recipe
    )
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
    """Which family a config belongs to, from its fields."""
    for family, fields in FAMILIES.items():
        if all(getattr(config, k) == v for k, v in fields.items()) and (
            config.shared_init == fields.get("shared_init", False)
        ):
            return family
    raise ValueError(f"{config.label()} with losses {config.losses} is not a run of the study")


@dataclass
class Study:
    """Results of the study's runs: ``study.curves("classification", "ce", "accuracy")``."""

    runs: dict[str, list[RunResult]]  # family -> one result per seed, in seed order

    @classmethod
    def of(cls, results: Sequence[RunResult]) -> Study:
        runs: dict[str, list[RunResult]] = {}
        for result in sorted(results, key=lambda r: r.config.seed):
            runs.setdefault(family_of(result.config), []).append(result)
        return cls(runs)

    @property
    def results(self) -> list[RunResult]:
        """Every run, family by family."""
        return [run for family in self.runs.values() for run in family]

    @property
    def seeds(self) -> list[int]:
        return sorted({r.config.seed for family in self.runs.values() for r in family})

    @property
    def scale(self) -> str:
        return next(iter(self.runs.values()))[0].config.scale

    @property
    def dataset(self) -> str:
        return next(iter(self.runs.values()))[0].config.dataset

    def histories(self, family: str, loss: str) -> list[History]:
        """One history per seed for ``loss``'s replica in ``family``'s runs."""
        if family not in self.runs:
            raise KeyError(f"the study has no {family!r} runs; it has {sorted(self.runs)}")
        return [run.histories[loss] for run in self.runs[family]]

    def curves(self, family: str, loss: str, measure: str) -> list[list[float]]:
        """Per seed, the per-epoch values of ``measure`` (``train_loss`` or a test measure)."""
        return [h.curve(measure) for h in self.histories(family, loss)]
