"""The installed pytest plugin (entry point ``lecture22-reproduce``): this repository's options take
their value after a space too, and any other project's session is left as it is.

pytest chooses the rootdir and ini file from a first parse that knows only its own options, so in
``pytest --run-cache ../runs`` it takes ``../runs``, where it exists, for a test path, and may root
the session there, without this repository's pyproject.toml and conftest.py. No plugin runs before
that choice; this one runs right after it, before any conftest is loaded. Only in a session started
inside a clone (the nearest pyproject.toml names this project) does it register the options
(reproduce/pytest_options.py) and, where they take a value that was taken for a test path, choose
the rootdir and ini file again. It imports nothing heavy: every pytest session of an environment
that has the package installed (a course's too) loads it.
"""

from __future__ import annotations

import copy
import inspect
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest requires tomli on 3.10
    import tomli as tomllib

PROJECT = "lecture22-reproduce"  # pyproject.toml's [project] name
OPTIONS = "reproduce.pytest_options"  # the name the root conftest's pytest_plugins uses too


def project_root(start: Path) -> Path | None:
    """The clone that ``start`` lies in: the nearest pyproject.toml's folder, if it names this project."""
    for folder in (start, *start.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
            except (OSError, ValueError):  # unreadable, not UTF-8, not TOML: not ours
                return None
            return folder if project.get("name") == PROJECT else None
    return None


@pytest.hookimpl(tryfirst=True)  # before pytest's own, which loads the initial conftests
def pytest_load_initial_conftests(early_config, parser, args):
    if project_root(early_config.invocation_params.dir) is None:
        return

    def parse(arguments):
        return parser.parse_known_args(arguments, namespace=copy.copy(early_config.option))

    early_config.pluginmanager.import_plugin(OPTIONS)
    if parse(args).file_or_dir == early_config.known_args_namespace.file_or_dir:
        return  # no option's value was taken for a test path
    # pytest put the ini file's addopts in front of the arguments; a new ini file brings its own.
    addopts = early_config.getini("addopts")
    given = args[len(addopts) :] if args[: len(addopts)] == addopts else list(args)
    if reroot(early_config, parse(given)):
        args[:] = early_config.getini("addopts") + given
    known = parse(args)
    if known.confcutdir is None:  # as pytest sets it
        known.confcutdir = str(early_config.inipath.parent if early_config.inipath else early_config.rootpath)
    early_config.known_args_namespace = known  # the test paths the initial conftests come from
    parser.extra_info.update(rootdir=str(early_config.rootpath), inifile=str(early_config.inipath))


def reroot(config: pytest.Config, known) -> bool:
    """Choose the rootdir and ini file again from ``known``'s test paths, as pytest does; False
    where the choice stands.

    pytest has no public way to do this: this function is the one place that uses its internals
    (pytest 8.0 to 9.2), and fails loudly where they have moved (tests/test_pytest_options.py).
    """
    from _pytest.config import findpaths

    setup = dict(
        inifile=known.inifilename,
        args=known.file_or_dir,
        rootdir_cmd_arg=known.rootdir or None,
        invocation_dir=config.invocation_params.dir,
    )
    if "override_ini" in inspect.signature(findpaths.determine_setup).parameters:  # pytest >= 9
        setup["override_ini"] = known.override_ini
    rootpath, inipath, inicfg, *ignored = findpaths.determine_setup(**setup)
    if (rootpath, inipath) == (config.rootpath, config.inipath):
        return False
    ini = "_inicfg" if "_inicfg" in vars(config) else "inicfg"  # renamed in pytest 9.1
    missing = [name for name in ("_rootpath", "_inipath", ini, "_inicache") if name not in vars(config)]
    if missing:
        raise pytest.UsageError(
            f"pytest {pytest.__version__} has no Config.{', Config.'.join(missing)}, so reproduce's "
            "plugin cannot correct the rootdir: give this repository's options as --name=value"
        )
    config._rootpath, config._inipath = rootpath, inipath
    setattr(config, ini, inicfg)
    config._inicache.clear()
    if ignored and "_ignored_config_files" in vars(config):  # pytest >= 9: the header's warning
        config._ignored_config_files = ignored[0]
    return True
