"""The reusable course gate (.github/workflows/course-gate.yml), run as a course repository runs it.

A throwaway course repository is made from examples/course-repo/ and the gate job's ``run:``
steps are executed in it with bash, in order, as GitHub would: the expressions substituted with
the example caller's inputs and the workflow's defaults, offline. What cannot run offline is left
out by name (installing the gate, which this environment already has) and by kind (``uses:``
steps: checkout, setup-python, the caches, the upload; with no cache, every step guarded by a
cache miss runs). The course's notebook trains the lecture's five nets for seeds 0 1 2 at smoke
scale (about a minute on two cores).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reproduce.judging.claims import CLAIMS

ROOT = Path(__file__).parents[1]
GATE_WORKFLOW = ROOT / ".github" / "workflows" / "gate.yml"
COURSE_GATE = ROOT / ".github" / "workflows" / "course-gate.yml"
COURSE_REPO = ROOT / "examples" / "course-repo"
CALLER = COURSE_REPO / ".github" / "workflows" / "lecture22.yml"
JOB = "notebook"  # course-gate.yml's job, the one a course's call runs
CALLER_JOB = "gate"  # the example caller's job on push and pull_request
INPUTS = {"notebook", "gate", "python-version", "torch-version", "torchvision-version", "parameters"}
# run: steps that install packages (pip): the gate is installed in this environment already.
# Named one by one, so a step added to the workflow runs here unless it is listed.
SKIPPED = {"install the gate and the torch asked for"}
# The if: conditions of run: steps, as they evaluate offline: no cache was restored.
CONDITIONS = {"steps.results.outputs.cache-hit != 'true'": True, "always()": True}
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")

# What the lecture's nets alone (mse, l1; ce, nll, multimargin) give a verdict to ...
JUDGED = {"A1", "A2", "A3", "A4", "A6", "B2", "B5", "B6", "B7"}
# ... and what they do not, with the words a reason names the missing nets by (any one of them).
NOT_JUDGED = {
    "A5": ("replicate", "replay", "second run"),  # a second run of one seed
    "B3": ("replicate", "replay", "second run"),
    "A7": ("lp3", "lp4", "lp5"),
    "B8": ("lp3", "lp4", "lp5"),
    "B1": ("nll_raw",),
    "B4": ("shared_init", "shared init", "shared-init"),
    "A8": (),  # A8 and A9 measure the gate's own Lp loss: no nets to name
    "A9": (),
}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def triggers(workflow: dict) -> dict:
    """The ``on:`` mapping (YAML 1.1 reads a bare ``on`` key as True)."""
    on = workflow["on"] if "on" in workflow else workflow[True]
    return {on: None} if isinstance(on, str) else dict(on)


def claim_id(name: str) -> str:
    return name.split("-")[0]


def caller_inputs() -> dict[str, str]:
    """The course-gate inputs on a push: the example caller's ``with:`` over the defaults."""
    declared = triggers(load(COURSE_GATE))["workflow_call"]["inputs"]
    given = load(CALLER)["jobs"][CALLER_JOB]["with"]
    assert set(given) <= set(declared), (
        f"the caller passes inputs the gate lacks: {set(given) - set(declared)}"
    )
    values = {name: spec["default"] for name, spec in declared.items() if "default" in spec}
    values |= {name: str(value) for name, value in given.items()}
    missing = [name for name, spec in declared.items() if spec.get("required") and name not in given]
    assert not missing, f"the caller does not pass the required inputs {missing}"
    return values


def substitute(text: str, *, inputs: dict, env: dict, workspace: Path, where: str) -> str:
    """``${{ inputs.X }}``, ``${{ env.X }}`` and ``${{ github.workspace }}`` replaced; any other
    expression fails the test, naming it: the test would otherwise run what GitHub does not."""

    def replace(match: re.Match) -> str:
        expression = match.group(1)
        if expression == "github.workspace":
            return str(workspace)
        scope, _, name = expression.partition(".")
        if scope == "inputs" and name in inputs:
            return str(inputs[name])
        if scope == "env" and name in env:
            return str(env[name])
        pytest.fail(f"{where}: cannot substitute ${{{{ {expression} }}}} offline", pytrace=False)

    result = EXPRESSION.sub(replace, str(text))
    assert "${{" not in result, f"{where}: an expression is left unsubstituted: {result!r}"
    return result


def test_gate_yml_is_this_repositorys_ci_and_course_gate_yml_what_a_course_calls():
    gate, course = triggers(load(GATE_WORKFLOW)), triggers(load(COURSE_GATE))
    assert "workflow_call" not in gate
    assert {"push", "pull_request", "schedule", "workflow_dispatch"} <= set(gate)
    assert set(course) == {"workflow_call"}
    assert set(course["workflow_call"]["inputs"]) == INPUTS
    assert list(load(COURSE_GATE)["jobs"]) == [JOB]


def test_the_example_caller_calls_the_course_gate_on_push_pr_and_weekly_with_the_newest_torch():
    caller = load(CALLER)
    assert {"push", "pull_request", "schedule"} <= set(triggers(caller))
    jobs = caller["jobs"]
    assert all(job["uses"].endswith("/.github/workflows/course-gate.yml@main") for job in jobs.values())
    assert all(job["uses"].startswith("OWNER/") for job in jobs.values()), "the placeholder owner"
    weekly = [job for job in jobs.values() if job.get("if") == "github.event_name == 'schedule'"]
    assert [job["with"].get("torch-version") for job in weekly] == ["newest"]
    assert jobs[CALLER_JOB]["if"] == "github.event_name != 'schedule'"
    assert "torch-version" not in jobs[CALLER_JOB]["with"]


def test_the_report_artefact_is_uploaded_even_when_the_gate_fails():
    steps = load(COURSE_GATE)["jobs"][JOB]["steps"]
    upload = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert len(upload) == 1 and upload[0]["if"] == "always()"
    assert set(upload[0]["with"]["path"].split()) == {"results/", "report/"}


class Gate:
    """The gate job's run: steps, run in a course repository as GitHub runs them, offline."""

    def __init__(self, repo: Path, github: Path, data_dir):
        self.repo, self.github, self.data_dir = repo, github, data_dir
        workflow = load(COURSE_GATE)
        job = workflow["jobs"][JOB]
        assert "defaults" not in workflow and "defaults" not in job, "steps run with GitHub's bash"
        self.inputs = caller_inputs()
        self.env = {}
        for scope, values in (("workflow", workflow.get("env", {})), ("job", job.get("env", {}))):
            for name, value in values.items():
                self.env[name] = substitute(
                    value, inputs=self.inputs, env=self.env, workspace=repo, where=f"{scope} env {name}"
                )
        assert "REPRODUCE_DATA_DIR" in self.env, "the gate job sets where its data lives"
        github.mkdir()
        self.summary = github / "summary"
        self.base = os.environ | {
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "GITHUB_WORKSPACE": str(repo),
            "GITHUB_OUTPUT": str(github / "output"),
            "GITHUB_ENV": str(github / "env"),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "RUNNER_TEMP": str(github),
        }
        self.steps = [s for s in job["steps"] if "run" in s]
        self.scripts = 0

    def run(self, steps) -> dict[str, subprocess.CompletedProcess]:
        """Each step in order; once one fails, only those under ``if: always()``, as GitHub does."""
        done, failed = {}, False
        for step in steps:
            name = step["name"]
            assert not {"shell", "working-directory"} & set(step), (
                f"step {name!r}: run as GitHub's default bash"
            )
            if name in SKIPPED:
                continue
            condition = step.get("if")
            if condition is not None:
                assert condition in CONDITIONS, f"step {name!r}: no offline value for if: {condition}"
                if not CONDITIONS[condition]:
                    continue
            if failed and condition != "always()":
                continue
            step_env = dict(self.env)
            for key, value in step.get("env", {}).items():
                step_env[key] = substitute(
                    value, inputs=self.inputs, env=self.env, workspace=self.repo, where=f"{name} env {key}"
                )
            step_env["REPRODUCE_DATA_DIR"] = str(self.data_dir)  # the local data, in place of the cache
            script = substitute(
                step["run"], inputs=self.inputs, env=step_env, workspace=self.repo, where=name
            )
            path = self.github / f"step-{self.scripts}.sh"
            self.scripts += 1
            path.write_text(script)
            done[name] = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)],
                cwd=self.repo,
                env=self.base | step_env,
                capture_output=True,
                text=True,
            )
            failed = failed or done[name].returncode != 0
        return done


def failures(done: dict[str, subprocess.CompletedProcess]) -> str:
    return "\n".join(
        f"step {name!r} exit {d.returncode}:\n--- stdout\n{d.stdout[-6000:]}\n--- stderr\n{d.stderr[-6000:]}"
        for name, d in done.items()
        if d.returncode != 0
    )


def with_a_claim_differing_and_a_curve_shifted(results: Path) -> None:
    """Every MSE autoencoder's training loss reversed, so that it rises: A2 (the loss goes down)
    is refuted, and MSE's final training loss shifts far beyond the reference distribution."""
    for path in results.glob("*.json"):
        document = json.loads(path.read_text())
        for run in document["runs"]:
            if "mse" in run["histories"]:
                run["histories"]["mse"]["train_loss"].reverse()
        path.write_text(json.dumps(document))


def test_a_course_repository_passes_the_gate_and_a_failing_one_is_shown_on_its_page(tmp_path, data_dir):
    """Every run: step of the gate job, in order, in a copy of the example course; exit 0, and
    the claims that read only the lecture's nets judged, the others not judged with the reason.
    Then the same results with a claim made to differ and a curve to shift, judged again: the job
    fails, its page (``$GITHUB_STEP_SUMMARY``) shows the claims' table and every shift, and the
    notebook is annotated: an error per differing claim and shifted curve, a warning per claim
    not judged."""
    repo = tmp_path / "course-repo"
    shutil.copytree(
        COURSE_REPO, repo, ignore=shutil.ignore_patterns("results", "report", ".ipynb_checkpoints")
    )
    gate = Gate(repo, tmp_path / "github", data_dir)
    names = [s.get("name") for s in gate.steps]
    assert all(names) and len(set(names)) == len(names), f"every run: step needs its own name: {names}"
    assert SKIPPED <= set(names), f"skipped steps no longer in the workflow: {SKIPPED - set(names)}"
    for step in gate.steps:
        installs = re.search(r"\bpip install\b", step["run"]) is not None
        assert installs == (step["name"] in SKIPPED), (
            f"step {step['name']!r}: {'installs packages' if installs else 'installs nothing'}, "
            f"so it {'must' if installs else 'must not'} be in SKIPPED"
        )

    ran = gate.run(gate.steps)
    assert not failures(ran), f"the gate failed:\n{failures(ran)}"
    assert any("reproduce.notebook" in s["run"] for s in gate.steps if s["name"] in ran)
    judge = next(s for s in gate.steps if "reproduce claims" in s["run"])
    assert judge["name"] in ran

    outputs = (gate.github / "output").read_text()
    assert re.search(r"^datasets=lecture22-datasets-\S+$", outputs, re.MULTILINE), outputs
    assert re.search(r"^results=lecture22-results-\S+$", outputs, re.MULTILINE), outputs

    report = repo / "report"
    for name in ("report.md", "claims.json", "curves.json", "summary.md"):
        assert (report / name).is_file(), f"the gate wrote no {report / name}"
    claims = json.loads((report / "claims.json").read_text())
    by_id = {claim_id(entry["name"]): entry for entry in claims}
    assert len(by_id) == len(claims), "one entry per claim"
    assert set(by_id) == {claim.id for claim in CLAIMS} == JUDGED | set(NOT_JUDGED), (
        "a claim was added or removed: say here whether the lecture's nets alone judge it"
    )
    for cid in sorted(JUDGED):
        assert by_id[cid]["measured"] != "not judged", f"{cid}: {by_id[cid]}"
    for cid, nets in sorted(NOT_JUDGED.items()):
        entry = by_id[cid]
        assert entry["measured"] == "not judged", f"{cid}: judged on the lecture's nets alone: {entry}"
        reason = entry.get("summary", "")
        assert reason, f"{cid}: not judged without a reason"
        assert not nets or any(net in reason.lower() for net in nets), (
            f"{cid}: the reason does not name the missing nets ({' or '.join(nets)}): {reason!r}"
        )
    passing = gate.summary.read_text()
    assert passing == (report / "summary.md").read_text()
    assert passing.startswith("## Lecture 22: 0 claim(s) differ from the expected verdict, no curve shifted")
    warnings = [line for line in ran[judge["name"]].stdout.splitlines() if line.startswith("::")]
    assert {line.split("::")[1].split(" ")[0] for line in warnings} == {"warning"}
    assert len(warnings) == len(NOT_JUDGED)  # the claims the lecture's nets cannot inform

    with_a_claim_differing_and_a_curve_shifted(repo / "results")
    gate.summary.unlink()
    after = gate.steps[gate.steps.index(judge) :]
    failed = gate.run(after)
    assert [d.returncode for d in failed.values()] == [1, 0], failures(failed)  # judged, then shown
    page = gate.summary.read_text()
    print(page)  # the job's page for the failing example (pytest -s shows it)
    assert page.startswith("## Lecture 22: 1 claim(s) differ from the expected verdict, curves shifted")
    assert "| A2-loss-goes-down | reproduced | refuted | **differs** |" in page
    assert re.search(r"^SHIFTED regression: mse/train_loss final", page, re.MULTILINE), page
    notebook = caller_inputs()["notebook"]
    commands = [line for line in failed[judge["name"]].stdout.splitlines() if line.startswith("::")]
    errors = [c for c in commands if c.startswith("::error ")]
    assert errors[0].startswith(f"::error file={notebook},title=claim A2-loss-goes-down differs::")
    shifted = f"::error file={notebook},title=curve shifted::regression: mse/train_loss final"
    assert any(c.startswith(shifted) for c in errors), commands
    assert len(commands) - len(errors) == len(NOT_JUDGED)  # the warnings, as before
