"""Results written elsewhere (a course's notebook), loaded into a :class:`Study` the claims can judge.

The format is ``reproduce/schemas/lecture22-results.schema.json``: one document per recipe, each
run one seed of one experiment with per-epoch histories. Loading refuses, naming the file and the
field, anything the claims' bounds do not cover: another batch size, learning rate or dataset, a
(train_size, test_size, epochs) that is no scale, a run that is no family of the study. Claims
whose families the results lack are *not judged*, with the reason, never passed.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from reproduce.config import SCALES, RunConfig
from reproduce.datasets import DATASETS
from reproduce.results import History, RunResult
from reproduce.study import FIRST_SEED_ONLY, Study, family_of

SCHEMA_PATH = Path(__file__).parent / "schemas" / "lecture22-results.schema.json"
RECIPE_FIXED = ("batch_size", "lr")  # the claims' bounds were measured with the notebook's values
NOT_JUDGED = "not judged"


class ResultsError(ValueError):
    """Results the claims cannot judge; the message names the file and the field."""


def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def result_files(where: str | os.PathLike) -> list[Path]:
    """``where`` itself if it is a file, else the ``*.json`` files directly inside it."""
    where = Path(where)
    if where.is_file():
        return [where]
    if not where.is_dir():
        raise ResultsError(f"{where}: no such file or folder of results")
    files = sorted(where.glob("*.json"))
    if not files:
        raise ResultsError(f"{where}: holds no results (*.json in the lecture22-results format)")
    return files


def _field(path) -> str:
    """A JSON location as the message's field: ``runs[3].histories.mse.train_loss[1]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "(the document)"


def validate(document: object, source: str) -> None:
    """Raise :class:`ResultsError` naming ``source`` and the field of the first schema error."""
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - jsonschema comes with the [test] and [notebook] extras
        raise ResultsError("judging external results needs jsonschema: pip install jsonschema") from None
    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is not None:
        raise ResultsError(f"{source}: field {_field(error.absolute_path)}: {error.message}")


def _scale_of(recipe: dict, source: str) -> str:
    """The scale whose sizes and epochs the recipe has; else name the field that differs."""
    sized = ("train_size", "test_size", "epochs")
    for name, scale in SCALES.items():
        if all(recipe[f] == getattr(scale, f) for f in sized):
            return name
    closest = min(SCALES.values(), key=lambda s: sum(recipe[f] != getattr(s, f) for f in sized))
    field = next(f for f in sized if recipe[f] != getattr(closest, f))
    known = "; ".join(f"{n}: {', '.join(f'{f} {getattr(s, f)}' for f in sized)}" for n, s in SCALES.items())
    raise ResultsError(
        f"{source}: field recipe.{field} is {recipe[field]}, so the recipe is no scale the claims "
        f"have bounds for ({known})"
    )


def _check_recipe(recipe: dict, source: str) -> str:
    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    for field in RECIPE_FIXED:
        if recipe[field] != defaults[field]:
            raise ResultsError(
                f"{source}: field recipe.{field} is {recipe[field]}, but the claims assume the "
                f"lecture's recipe, {field} {defaults[field]}"
            )
    if recipe["dataset"] not in DATASETS:
        raise ResultsError(
            f"{source}: field recipe.dataset is {recipe['dataset']!r}; expected one of {sorted(DATASETS)}"
        )
    return _scale_of(recipe, source)


def _run_result(run: dict, at: str, recipe: dict, scale: str, environment: dict, source: str) -> RunResult:
    try:
        config = RunConfig.at_scale(
            run["experiment"],
            scale,
            seed=run["seed"],
            dataset=recipe["dataset"],
            losses=tuple(run["losses"]),
            shared_init=run.get("shared_init", False),
            fused_adam=recipe.get("fused_adam", False),  # a notebook's Adam is torch's default
        )
        family_of(config)
    except ValueError as error:
        raise ResultsError(f"{source}: field {at}.losses: {error}") from None
    if list(run["histories"]) != list(run["losses"]):
        raise ResultsError(
            f"{source}: field {at}.histories has {list(run['histories'])}; expected one per loss, "
            f"in order: {list(run['losses'])}"
        )
    for loss, h in run["histories"].items():
        for name, curve in {"train_loss": h["train_loss"], **h["metrics"]}.items():
            if len(curve) != recipe["epochs"]:
                where = name if name == "train_loss" else f"metrics.{name}"
                raise ResultsError(
                    f"{source}: field {at}.histories.{loss}.{where} has {len(curve)} values; "
                    f"expected one per epoch, recipe.epochs = {recipe['epochs']}"
                )
    histories = {loss: History(**h) for loss, h in run["histories"].items()}
    return RunResult(config, histories, dict(environment), run.get("seconds", 0.0))


def load_results(where: str | os.PathLike) -> list[RunResult]:
    """Every run in the results file(s) at ``where``, validated; raises :class:`ResultsError`."""
    results, seen, scales = [], {}, set()
    for path in result_files(where):
        try:
            document = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ResultsError(f"{path}: not JSON: {error}") from None
        source = str(path) + (
            f" (from {document['notebook']})"
            if isinstance(document, dict) and isinstance(document.get("notebook"), str)
            else ""
        )
        validate(document, source)
        recipe = document["recipe"]
        scale = _check_recipe(recipe, source)
        scales.add((scale, recipe["dataset"]))
        for i, run in enumerate(document["runs"]):
            result = _run_result(run, f"runs[{i}]", recipe, scale, document.get("environment", {}), source)
            key = (family_of(result.config), result.config.seed)
            if key in seen:
                raise ResultsError(
                    f"{source}: field runs[{i}]: a second {key[0]} run for seed {key[1]} "
                    f"(the first is in {seen[key]})"
                )
            seen[key] = source
            results.append(result)
        if len(scales) > 1:
            raise ResultsError(f"{source}: field recipe: mixes settings {sorted(scales)} in one judgement")
    return results


def load_study(where: str | os.PathLike) -> Study:
    """The results at ``where`` as a Study; every family present must cover the same seeds."""
    study = Study.of(load_results(where))
    seeds = {f: sorted(r.config.seed for r in runs) for f, runs in study.runs.items()}
    full = sorted({s for f, ss in seeds.items() if f not in FIRST_SEED_ONLY for s in ss})
    if len(full) < 2:
        raise ResultsError(f"{where}: results for seeds {full}; the claims are judged over at least 2 seeds")
    for family, have in seeds.items():
        expected = full[:1] if family in FIRST_SEED_ONLY else full
        if have != expected:
            raise ResultsError(f"{where}: the {family} runs cover seeds {have}; expected {expected}")
    return study


def why_not_judged(claim, study: Study) -> str | None:
    """None where the claim can be judged on ``study``; else why not, for the report."""
    if not claim.families:
        return "reads no results: it measures reproduce's own code, not the material under test"
    missing = [f for f in claim.families if f not in study.runs]
    if missing:
        return f"needs the {', '.join(missing)} run(s), which the results do not hold"
    return None
