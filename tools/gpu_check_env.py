"""What tools/gpu-check asks of the Python it is given, answered by that Python.

    python tools/gpu_check_env.py check          # what is missing, what to pin, whether CUDA works
    python tools/gpu_check_env.py requirements   # the needs besides torch, for `pip download`
    python tools/gpu_check_env.py card --out DIR # each visible card's identity (card.json)

The needs are pyproject.toml's dependencies and its ``test`` extra, read here so that the list is
written once. Only the standard library and pip are used before the project's needs are there:
tomllib (3.11+; pip's vendored tomli on 3.10) and pip's vendored packaging.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXTRA = "test"
# The box's own builds: never installed or replaced, only pinned. numpy too, since torch and
# torchvision were built against the one in place.
GIVEN = ("torch", "torchvision")
PINNED = (*GIVEN, "numpy")


class Refused(Exception):
    """A Python gpu-check cannot use; the message is the one line it prints."""


def _toml():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            from pip._vendor import tomli as tomllib
        except ModuleNotFoundError:
            raise Refused(f"{sys.executable} has neither tomllib (3.11+) nor pip 21.2+") from None
    return tomllib


def _packaging():
    try:
        from pip._vendor.packaging import requirements, specifiers
    except ModuleNotFoundError:
        raise Refused(f"{sys.executable} has no pip, which gpu-check installs with") from None
    return requirements, specifiers


def needs(pyproject: Path = ROOT / "pyproject.toml") -> tuple[str, list[str]]:
    """requires-python and the requirement strings: dependencies, then the test extra's."""
    project = _toml().loads(pyproject.read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"][EXTRA]]
    return project.get("requires-python", ""), list(dict.fromkeys(wanted))


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def unmet(wanted: list[str]) -> list[str]:
    """The requirements this Python does not satisfy: absent, or at a version outside the range.

    An installed pre-release satisfies a range that contains it (PEP 440), as it does for pip:
    NVIDIA's containers ship torch 2.x.0a0+nv builds.
    """
    requirements, _ = _packaging()
    missing = []
    for text in wanted:
        requirement = requirements.Requirement(text)
        if requirement.marker and not requirement.marker.evaluate({"extra": EXTRA}):
            continue
        version = installed(requirement.name)
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            missing.append(text)
    return missing


def cuda_problem() -> str | None:
    """Why this torch cannot train on a GPU here, in one line; None when it can."""
    import torch

    if torch.version.cuda is None:
        return f"torch {torch.__version__} was built without CUDA"
    with warnings.catch_warnings(record=True) as caught:  # e.g. a driver too old for this build
        warnings.simplefilter("always")
        available = torch.cuda.is_available()
    if available and torch.cuda.device_count() > 0:
        return None
    reasons = [str(w.message).splitlines()[0] for w in caught]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        reasons.append(f"CUDA_VISIBLE_DEVICES={visible!r}")
    return "no CUDA device visible" + (f" ({'; '.join(reasons)})" if reasons else "")


def check() -> list[str]:
    """The report gpu-check reads: ``python``, ``pin``, ``missing`` and ``cuda`` lines."""
    if importlib.util.find_spec("torch") is None:
        raise Refused(f"{sys.executable} has no torch; gpu-check uses the torch a GPU box has")
    requires_python, wanted = needs()
    _, specifiers = _packaging()
    if not specifiers.SpecifierSet(requires_python).contains(platform.python_version()):
        raise Refused(f"Python {platform.python_version()} is not {requires_python} (pyproject.toml)")
    missing = unmet(wanted)
    requirements, _ = _packaging()
    for text in missing:  # installing torch, or a torchvision that is there, replaces the given build
        name = requirements.Requirement(text).name
        if name == "torch" or (name in GIVEN and installed(name)):
            version = installed(name) or "(installed without pip's metadata)"
            raise Refused(f"{name} {version} is not {text} (pyproject.toml), and gpu-check never replaces it")
    import torch

    report = [f"python {sys.executable}: Python {platform.python_version()}, torch {torch.__version__}"]
    report += [f"pin {name}=={installed(name)}" for name in PINNED if installed(name)]
    report += [f"missing {text}" for text in missing]
    problem = cuda_problem()
    if problem:
        report.append(f"cuda {problem}")
    return report


def card(out: Path) -> int:
    """card.json (each visible card's identity and baseline folder) and nvidia-smi.txt in OUT."""
    import torch

    from reproduce.training import devices

    try:
        smi = subprocess.run(["nvidia-smi"], capture_output=True, text=True, check=False)
        (out / "nvidia-smi.txt").write_text(smi.stdout + smi.stderr)
    except FileNotFoundError:
        (out / "nvidia-smi.txt").write_text("nvidia-smi: not found\n")
    cards = {
        f"cuda:{i}": devices.identity(f"cuda:{i}") | {"baseline_folder": devices.baseline_folder(f"cuda:{i}")}
        for i in range(torch.cuda.device_count())
    }
    text = json.dumps(cards, indent=1)
    (out / "card.json").write_text(text + "\n")
    print(text)
    return 0 if cards else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check")
    commands.add_parser("requirements")
    commands.add_parser("card").add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            print("\n".join(check()))
        elif args.command == "requirements":
            requirements, _ = _packaging()
            print("\n".join(t for t in needs()[1] if requirements.Requirement(t).name not in GIVEN))
        else:
            return card(args.out)
    except Refused as refused:
        print(f"tools/gpu-check: {refused}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
