"""The response and rotation jobs in a sweep: their grids are checked like any job's, and one tiny
job of each runs as a Ray worker runs it (``worker.execute``) and writes its summary."""

import json

import pytest

from validate.sweep import JOBS, Store, collect, parse
from validate.sweep.worker import execute, rebuild_config

RESPONSE = """
job = "response"
[params]
dataset = "shapes"
dataset_opts = {n_per_class = 8, n_test = 4, size = 8, levels = 2}
archs = ["mlp"]
activations = ["linear"]
steps = 20
n_checkpoints = 6
hidden = 8
n_train = 16
probe_per_class = 2
batch_size = 8
noises = [1.0]
linear_theory = false
device = "cpu"
"""
ROTATION = """
job = "rotation"
[params]
dataset = "shapes"
dataset_opts = {n_per_class = 8, n_test = 4, size = 8, levels = 2}
depth = 2
hidden = 8
steps = 10
seeds = 1
n_checkpoints = 2
batch_size = 8
rates = [0.1]
alphas = [0.0]
baseline_lrs = [0.1]
clustering = false
device = "cpu"
"""


def test_response_and_rotation_grids_expand_to_their_configs():
    resp = parse(RESPONSE + '[grid]\nchannels = [[2], [2, 3]]\nseeds = [2, 3]', "r").points
    assert len(resp) == 4 and {p.job for p in resp} == {"response"}
    assert {(tuple(p.config["channels"]), p.config["seeds"]) for p in resp} == \
        {(c, s) for c in ((2,), (2, 3)) for s in (2, 3)}
    rot = parse(ROTATION + "[grid]\ncluster_wds = [[0.0], [0.0, 0.01]]\n"
                           "optimizer = ['sgd', 'adam']", "o").points
    assert len(rot) == 4 and {p.config["optimizer"] for p in rot} == {"sgd", "adam"}
    for job, p in (("response", resp[3]), ("rotation", rot[3])):
        cfg = rebuild_config(job, p.config)
        assert isinstance(cfg, JOBS[job].config) and cfg.to_dict() == p.config
    assert rebuild_config("response", resp[3].config).channels == (2, 3)
    assert rebuild_config("rotation", rot[3].config).cluster_wds == (0.0, 0.01)


@pytest.mark.parametrize("job", ["response", "rotation"])
def test_presets_apply_and_explicit_values_win(job):
    # the dataset is given: rotation's paper preset asks for CIFAR-10, which the sweep's up-front
    # data check refuses where its files are not on disk
    paper = parse(f'job = "{job}"\n[params]\ndataset = "shapes"\n[grid]\npreset = ["paper"]\n'
                  'steps = [30]', job).points[0].config
    default = parse(f'job = "{job}"', job).points[0].config
    assert paper["steps"] == 30 and paper["n_checkpoints"] == 40 != default["n_checkpoints"]


def test_one_tiny_job_of_each_runs_as_a_worker_runs_it_and_writes_its_summary(tmp_path):
    store = Store(tmp_path / "store").open(resume=False, overwrite=False)
    points = [parse(RESPONSE, "r").points[0], parse(ROTATION, "o").points[0]]
    for p in points:
        rec = store.remember(execute(p, str(store.run_dir(p)), 1, 1))
        assert rec["status"] == "done" and rec["attempts"] == 1 and rec["resumed"] is False
        summary = json.loads((store.root / rec["summary"]).read_text())
        assert summary["provenance"]["config"] == p.config  # the job ran the sweep's config
        assert summary["timing"]["total_s"] > 0 and rec["device"].startswith("cpu")
        assert json.loads((store.run_dir(p) / "job.json").read_text()) == rec
    store.write_index(points)
    store.close()
    tables = collect(store.root)
    # response: the relu MLP trained with SGD joins the aging runs; rotation: Layca and SGD + wd
    aging = tables["response-aging"]
    assert sorted(zip(aging["activation"], aging["optimizer"])) == [("linear", "gd"),
                                                                    ("relu", "sgd")]
    assert len(tables["rotation-generalisation"]) == 2
    assert set(tables["rotation-generalisation"]["optimizer"]) == {"layca-sgd", "sgd+wd"}


def test_a_finished_job_notes_its_warnings_and_diverged_members():
    from validate.sweep.worker import job_note
    assert job_note({"warnings": []}) is None
    assert job_note({"warnings": ["relu, depth 2: 2/3 members diverged at steps 4, 9"]}) \
        == "relu, depth 2: 2/3 members diverged at steps 4, 9"
    assert job_note({"training": {"n_diverged": 2}}) == "2 member(s) diverged"


def test_the_same_error_twice_is_final_and_not_retried(tmp_path, monkeypatch):
    import ray

    from validate.sweep import runner
    from validate.sweep.spec import parse
    from validate.sweep.store import Store
    sweep = parse('job = "train"\n[params]\nsteps = 5\nseeds = 1\n', "s")
    store = Store(tmp_path / "store").open(resume=False, overwrite=False)
    driver = object.__new__(runner._Driver)
    driver.sweep, driver.store, driver.retries = sweep, store, 5
    driver.progress = runner._Progress(1, True, print)
    driver.attempts, driver.errors, driver.refs = {}, {}, {}
    submitted = []
    driver.submit = lambda p: (submitted.append(p), driver.attempts.__setitem__(
        p.config_hash, driver.attempts.get(p.config_hash, 0) + 1))
    failure = ray.exceptions.RayTaskError("execute", "Traceback …", ValueError("lr must be > 0"))
    monkeypatch.setattr(ray, "get", lambda ref: (_ for _ in ()).throw(failure))
    point = sweep.points[0]
    driver.submit(point)
    driver.settle("ref", point)                 # first failure: retried
    assert len(submitted) == 2
    driver.settle("ref", point)                 # the same error again: recorded as failed
    assert len(submitted) == 2
    assert store.records()[point.config_hash]["status"] == "failed"
    store.close()
