"""Result records, atomic writes and the run cache shared by concurrent processes."""

import json
import multiprocessing
import time

import pytest

from reproduce.training.config import RunConfig
from reproduce.training.results import History, RunCache, RunResult, environment, write_json_atomic


def fake_result(config, value=0.5):
    history = History(untrained={"accuracy": 10.0})
    history.record(value, {"accuracy": 90.0})
    return RunResult(config, {loss: history for loss in config.losses}, environment("cpu"), 0.1)


CONFIGS = [RunConfig.at_scale("classification", "smoke", seed=s) for s in range(4)]


def test_result_round_trips_through_json(tmp_path):
    result = fake_result(CONFIGS[0])
    result.save(tmp_path / "r.json")
    assert RunResult.load(tmp_path / "r.json") == result


def test_an_old_schema_is_refused(tmp_path):
    data = fake_result(CONFIGS[0]).to_dict() | {"schema": 0}
    with pytest.raises(ValueError, match="expected result schema 1, got 0"):
        RunResult.from_dict(data)


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path):
    path = tmp_path / "out.json"
    write_json_atomic(path, {"kept": True})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"broken": object()})  # fails mid-serialisation
    assert json.loads(path.read_text()) == {"kept": True}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temp file left behind


def test_cache_trains_each_config_once(tmp_path):
    cache, trained = RunCache(tmp_path), []

    def train(config):
        trained.append(config.seed)
        return fake_result(config)

    first = cache.ensure(CONFIGS, train)
    again = cache.ensure(CONFIGS, train)
    assert trained == [0, 1, 2, 3] and first == again


def test_a_damaged_cache_entry_is_trained_again(tmp_path):
    cache = RunCache(tmp_path)
    cache.ensure(CONFIGS[:1], fake_result)
    cache.path(CONFIGS[0]).write_text("{ not json")
    assert cache.ensure(CONFIGS[:1], lambda c: fake_result(c, 0.25))[0].histories["ce"].train_loss == [0.25]


def _worker(folder, log):
    def train(config):
        with open(log, "a") as f:
            f.write(f"{config.seed}\n")
        time.sleep(0.3)  # long enough for the other process to find the lock taken
        return fake_result(config)

    RunCache(folder).ensure(CONFIGS, train)


def test_concurrent_processes_share_the_work_and_never_train_a_run_twice(tmp_path):
    log = tmp_path / "trained.log"
    context = multiprocessing.get_context("spawn")  # fork of a threaded torch process can deadlock
    workers = [context.Process(target=_worker, args=(tmp_path / "cache", log)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert all(w.exitcode == 0 for w in workers)
    seeds = sorted(int(s) for s in log.read_text().split())
    assert seeds == [0, 1, 2, 3]  # each run once, across both processes
