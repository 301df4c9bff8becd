"""Results written elsewhere (a course's notebook), loaded into a :class:`Study` the claims can judge.

The format is ``reproduce/judging/schemas/lecture22-results.schema.json``: one document per recipe, each
run one seed of one experiment with per-epoch histories. Loading refuses, naming the file and the
field, anything the claims' bounds do not cover: another batch size, learning rate or dataset, a
(train_size, test_size, epochs) that is no scale, an unknown experiment or loss, a NaN or an
infinity anywhere. Any nets of the known experiments are accepted, whatever this repository
trains: a claim whose nets the results lack is *not judged*, with the reason, never passed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

from reproduce.judging.evidence import first_float
from reproduce.training.config import SCALES, RunConfig
from reproduce.training.datasets import DATASETS
from reproduce.training.results import History, RunResult
from reproduce.training.study import Study

SCHEMA_PATH = Path(__file__).parent / "schemas" / "lecture22-results.schema.json"
RECIPE_FIXED = ("batch_size", "lr")  # the claims' bounds were measured with the notebook's values


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
    """Raise :class:`ResultsError` naming ``source`` and the field of the first schema error,
    or of the first NaN or infinity (JSON Schema's "number" lets both through)."""
    found = first_float(document, lambda x: not math.isfinite(x))
    if found is not None:
        where, value = found
        raise ResultsError(
            f"{source}: field {_field(where)} is {value}; results must be finite numbers "
            "(a net that diverged is a failed run, not a result)"
        )
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
    results, scales = [], set()
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
            results.append(result)
        if len(scales) > 1:
            raise ResultsError(f"{source}: field recipe: mixes settings {sorted(scales)} in one judgement")
    return results


def load_study(where: str | os.PathLike) -> Study:
    """The results at ``where`` as a Study: every seed of a family with the same nets."""
    study = Study.of(load_results(where))
    for family, runs in study.runs.items():
        trained = {r.config.seed: " ".join(sorted(r.histories)) for r in runs}
        if len(set(trained.values())) > 1:
            raise ResultsError(
                f"{where}: the {family} runs train different nets per seed "
                f"({'; '.join(f'seed {k}: {v}' for k, v in trained.items())}); every seed must "
                "train the same nets, so that claims compare the same nets seed by seed"
            )
    return study


def why_not_judged(claim, study: Study) -> str | None:
    """None where the claim can be judged on ``study``; else why not, for the report."""
    if not claim.nets:
        return "reads no results: it measures reproduce's own code, not the material under test"
    return claim.missing(study)
