"""The course material under the gate: notebooks/lecture22.ipynb executed, audited and judged.

The notebook runs once per session at smoke scale for --seeds (one kernel, shared by xdist
workers through a lock); its results are judged by the same claims as the library's and compared
with the library's runs of the same configs, number for number.
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from pathlib import Path

import nbformat
import pytest
from filelock import FileLock

from reproduce import cli, external, notebook
from reproduce.claims import CLAIMS
from reproduce.config import SCALES

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "lecture22.ipynb"
SMOKE = SCALES["smoke"]
FAMILIES = ("regression", "classification", "shared_init")  # what the notebook writes
NOT_JUDGED = {"A5", "A8", "A9"}  # no replicate run; A8, A9 probe reproduce's own Lp loss


def smoke_parameters(seeds, data_root) -> dict:
    return {
        "seeds": list(seeds),
        "train_size": SMOKE.train_size,
        "test_size": SMOKE.test_size,
        "epochs": SMOKE.epochs,
        "data_dir": str(data_root),
    }


@pytest.fixture(scope="session")
def notebook_results(tmp_path_factory, data_dir, seeds) -> Path:
    """The smoke-scale results file, executed once for all xdist workers (~1-3 min on 2 cores)."""
    shared = tmp_path_factory.getbasetemp().parent / f"lecture22-notebook-{'-'.join(map(str, seeds))}"
    with FileLock(str(shared) + ".lock"):
        done = shared / notebook.RESULTS_NAME
        if not done.is_file():
            notebook.execute(NOTEBOOK, shared, smoke_parameters(seeds, data_dir))
    return done


@pytest.fixture
def document(notebook_results) -> dict:
    return json.loads(notebook_results.read_text())


def write(tmp_path, document) -> Path:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document))
    return path


def test_notebook_is_source_only_with_a_parameters_cell_and_no_reproduce():
    """Reviewable diffs (no outputs), papermill's parameters cell, and the material stands alone."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "commit it without outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    names = set(re.findall(r"^(\w+) =", tagged[0].source, re.MULTILINE))
    assert {"seeds", "train_size", "test_size", "epochs", "data_dir", "results_dir"} <= names
    assert not [c.source for c in code if re.search(r"^\s*(import|from)\s+reproduce\b", c.source, re.M)]


def test_notebook_results_hold_the_families_over_the_seeds(notebook_results, seeds):
    study = external.load_study(notebook_results)
    assert {f: [r.config.seed for r in runs] for f, runs in study.runs.items()} == {
        f: list(seeds) for f in FAMILIES
    }
    assert study.scale == "smoke" and study.dataset == "mnist"


def test_claims_judge_the_notebook_as_the_library(notebook_results):
    """Same claims, same expected verdicts; the claims it cannot inform are named, not passed."""
    study = external.load_study(notebook_results)
    skipped = {c.id for c in CLAIMS if external.why_not_judged(c, study)}
    assert skipped == NOT_JUDGED
    judged = [c.judge(study) for c in CLAIMS if c.id not in skipped]
    assert [j.explain() for j in judged if not j.as_expected] == []


def test_notebook_curves_equal_the_library_run(notebook_results, study_of, seeds):
    """Differential check: same inits, same batch order, same Adam, same numbers.

    The library trains with fused Adam; this run uses the notebook's own (``fused_adam=False``),
    so training losses, accuracy and MAE are bit-identical. SSIM is computed by scikit-image's
    algorithm in numpy (notebook) and by shifted sums in torch (library): equal to 1e-12.
    """
    ours = external.load_study(notebook_results)
    assert ours.results[0].environment["threads"] == "1", "the kernel must train with 1 thread"
    library = study_of("mnist", "smoke", "cpu", FAMILIES, recipe={"fused_adam": False})  # its Adam
    worst_ssim = 0.0
    for family in FAMILIES:
        for mine, theirs in zip(ours.runs[family], library.runs[family], strict=True):
            assert mine.config == theirs.config
            for loss, h in mine.histories.items():
                lib = theirs.histories[loss]
                where = f"{mine.config.label()} {loss}"
                assert h.train_loss == lib.train_loss, where
                for name in h.metrics:
                    if name.startswith("ssim"):
                        pairs = list(zip(h.metrics[name], lib.metrics[name])) + [
                            (h.untrained[name], lib.untrained[name])
                        ]
                        worst_ssim = max(worst_ssim, *(abs(a - b) for a, b in pairs))
                    else:
                        assert h.metrics[name] == lib.metrics[name], f"{where} {name}"
                        assert h.untrained[name] == lib.untrained[name], f"{where} untrained {name}"
    assert worst_ssim <= 1e-12


def test_cli_judges_the_notebook_results(notebook_results, tmp_path, capsys):
    assert cli.main(["claims", "--results", str(notebook_results.parent), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "DIFFERS" not in out
    assert re.findall(r"^skipped (\w+)-", out, re.M) == sorted(NOT_JUDGED)
    verdicts = {
        c["name"].split("-")[0]: c["measured"] for c in json.loads((tmp_path / "claims.json").read_text())
    }
    assert {k for k, v in verdicts.items() if v == "not judged"} == NOT_JUDGED


# --- Bad input: each refused naming the file (and notebook) and the field ---------------------


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda d: d["recipe"].__setitem__("batch_size", 64), "recipe.batch_size is 64"),
        (lambda d: d["recipe"].__setitem__("lr", 1e-3), "recipe.lr is 0.001"),
        (lambda d: d["recipe"].__setitem__("epochs", 4), "recipe.epochs is 4"),
        (lambda d: d["recipe"].__setitem__("dataset", "cifar"), "recipe.dataset is 'cifar'"),
        (lambda d: d["runs"][0]["histories"]["mse"]["train_loss"].__setitem__(1, "x"), "field runs[0]"),
        (lambda d: d["runs"][0]["histories"]["mse"]["metrics"].pop("ssim"), "runs[0].histories.mse.metrics"),
        (lambda d: d["runs"][0]["histories"]["mse"]["train_loss"].pop(), "runs[0].histories.mse.train_loss"),
        (lambda d: d["runs"][0].__setitem__("losses", ["l1", "mse", "lp3", "lp4", "lp5"]), "runs[0].losses"),
        (lambda d: d["runs"].append(copy.deepcopy(d["runs"][0])), "a second regression run for seed"),
        (lambda d: d.__setitem__("format", "other"), "field format"),
    ],
    ids=["batch", "lr", "epochs", "dataset", "type", "metric", "length", "order", "duplicate", "format"],
)
def test_results_refused_naming_the_field(document, tmp_path, change, field):
    change(document)
    with pytest.raises(external.ResultsError, match=re.escape(field)) as refused:
        external.load_study(write(tmp_path, document))
    assert "results.json (from lecture22.ipynb)" in str(refused.value)


def test_cli_refuses_another_recipe_in_one_line(document, tmp_path, capsys):
    document["recipe"]["batch_size"] = 64
    path = write(tmp_path, document)
    assert cli.main(["claims", "--results", str(path), "--out", str(tmp_path / "out")]) == cli.EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "recipe.batch_size is 64" in err and str(path) in err


def test_empty_results_folder_is_refused(tmp_path):
    with pytest.raises(external.ResultsError, match="holds no results"):
        external.load_study(tmp_path)


def tiny_notebook(tmp_path, *sources) -> Path:
    path = tmp_path / "course.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]), path)
    return path


def test_a_notebook_that_raises_names_the_notebook_and_cell(tmp_path):
    path = tiny_notebook(tmp_path, "x = 1", "raise ValueError('broken on purpose')")
    with pytest.raises(notebook.NotebookError) as failed:
        notebook.execute(path, tmp_path / "out")
    assert f'{path}: cell 1 ("raise ValueError' in str(failed.value)
    assert "ValueError: broken on purpose" in str(failed.value)


def test_a_notebook_that_writes_no_results_is_named(tmp_path):
    path = tiny_notebook(tmp_path, "print('trained, but forgot to save')")
    with pytest.raises(notebook.NotebookError, match=f"{re.escape(str(path))}: ran, but wrote no results"):
        notebook.execute(path, tmp_path / "out")


# --- The deprecation audit ----------------------------------------------------------------------

# One deprecated call from the notebook's code (counted), one deprecation inside torch's own code
# called by torchvision's (not the course's), one from a package outside the audit (not counted).
INJECTED = (
    "torch.nn.utils.weight_norm(torch.nn.Linear(2, 2))",
    "import types, warnings\n"
    "inner = types.ModuleType('torch._fake'); outer = types.ModuleType('torchvision._fake')\n"
    "exec('import warnings\\ndef old(): warnings.warn(\"inside\", DeprecationWarning)', inner.__dict__)\n"
    "outer.old = inner.old\n"
    "exec('def call(): old()', outer.__dict__)\n"
    "outer.call()\n"
    "other = types.ModuleType('otherpkg')\n"
    "exec('import warnings\\ndef old(): warnings.warn(\"elsewhere\", FutureWarning)', other.__dict__)\n"
    "other.old()",
)


def test_an_injected_deprecated_call_fails_the_gate_with_its_text(tmp_path, data_dir):
    tiny = {"seeds": [0], "train_size": 200, "test_size": 100, "epochs": 1, "data_dir": str(data_dir)}
    with pytest.raises(notebook.NotebookError) as failed:
        notebook.execute(NOTEBOOK, tmp_path, tiny, extra_cells=INJECTED)
    message = str(failed.value)
    assert message.startswith(f"{NOTEBOOK}: 1 deprecation(s) raised by torch, torchvision")
    assert "FutureWarning: `torch.nn.utils.weight_norm` is deprecated" in message
    assert "inside" not in message and "elsewhere" not in message


def test_library_deprecations_fail_the_tests():
    """pyproject's filterwarnings: a deprecation attributed to reproduce's code is an error."""
    with pytest.raises(DeprecationWarning, match="old api"):
        warnings.warn_explicit(
            "old api", DeprecationWarning, "experiments.py", 1, module="reproduce.experiments"
        )
    with pytest.raises(FutureWarning):
        warnings.warn_explicit("old api", FutureWarning, "train.py", 1, module="reproduce.train")
