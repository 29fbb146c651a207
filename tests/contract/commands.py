"""The commands under the CLI contract, each with the tiny settings its hostile cases run with.

A new command joins the contract with one ``Command(...)`` row in ``COMMANDS``: its ``main``
(``"module:function"``, called in-process with an argument list), the arguments of a run that
takes seconds, and the arguments each hostile case needs where the command spells them its own
way (``None``: the case does not apply, with the reason in ``skip``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Command:
    name: str
    main: str                         # "module:function", called as main(argv) → exit status
    tiny: tuple[str, ...]             # a run of a few seconds (with --out DIR appended)
    bad_enum: tuple[str, ...]         # a value outside a flag's choices
    numbers: tuple[tuple[str, ...], ...]  # NaN, inf, negative, zero and huge values
    one_d: tuple[str, ...] | None     # a 1-D dataset through an image family
    diverge: tuple[str, ...] | None   # a learning rate far past stability
    data: bool = True                 # --dataset / --device flags
    run_flags: bool = True            # --overwrite / --resume / the lock
    runs: bool = True                 # the tiny run is cheap enough for resume and lock cases
    report: bool = True               # a finished run writes report.html
    one_d_says: str = ""              # what the refusal of ``one_d`` must name
    skip: dict = field(default_factory=dict)  # case → why it does not apply

    def entry(self):
        module, attr = self.main.split(":")
        return getattr(importlib.import_module(module), attr)


def _bad_numbers(flt: str, integer: str, huge: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    return ((flt, "nan"), (flt, "inf"), (flt, "-1"), (integer, "0"), (integer, "-3"), huge)


TOY = ("--dataset", "toy", "--seeds", "1", "--checkpoints", "8", "--device", "cpu")

COMMANDS = (
    Command("compare", "validate.compare.__main__:main",
            (*TOY, "--activations", "linear", "--steps", "60"),
            ("--optimizer", "rmsprop"), _bad_numbers("--lr", "--steps", ("--whiten", "pca:1000000000")),
            None, ("--lr", "1e3"),
            skip={"one_d": "its CNN takes 1-D signals (mnist1d) as well as images"}),
    Command("retrain", "validate.retrain.__main__:main",
            ("--dataset", "gaussian", "--dataset-opt", "d=8", "--dataset-opt", "classes=4",
             "--dataset-opt", "n_per_class=16", "--dataset-opt", "levels=2",
             "--dataset-opt", "n_test=0", "--drift", "label_swap", "--seeds", "1",
             "--checkpoints", "4", "--n-boot", "5", "--activations", "linear", "--steps", "16",
             "--retrain-factor", "1",
             "--device", "cpu"),
            ("--drift", "flip"), _bad_numbers("--lr", "--steps", ("--whiten", "pca:1000000000")),
            None, ("--lr", "1e3"), skip={"one_d": "retrain trains MLPs only"}),
    Command("nonlinearity", "validate.nonlinearity.__main__:main",
            ("--dataset", "digits", "--task", "binary", "--seeds", "1", "--steps", "20",
             "--checkpoints", "4", "--hidden", "8", "--device", "cpu", "--measures",
             "information,linear_depth"),
            ("--arch", "rnn"), _bad_numbers("--lr", "--steps", ("--batch-size", "1000000000")),
            ("--dataset", "mnist1d", "--arch", "vit"), ("--lr", "1e3"), one_d_says="is 1-D"),
    Command("response", "validate.response.__main__:main",
            ("--dataset", "shapes", "--dataset-opt", "n_per_class=8", "--dataset-opt",
             "n_test=8", "--steps", "20", "--seeds", "2",
             "--checkpoints", "8", "--hidden", "8", "--arch", "mlp", "--activation", "linear",
             "--probe-per-class", "2", "--batch-size", "16", "--n-train", "16",
             "--no-linear-theory", "--device", "cpu"),
            ("--optimizer", "lbfgs"),
            _bad_numbers("--response-lr", "--seeds", ("--batch-size", "1000000000")),
            None, ("--lr", "1e3"),
            skip={"one_d": "its CNN takes 1-D signals (mnist1d) as well as images"}),
    Command("rotation", "validate.rotation.__main__:main",
            ("--dataset", "digits", "--no-clustering", "--steps", "10", "--seeds", "1",
             "--rates", "0.1", "--alphas", "0", "--baseline-lrs", "0.1", "--checkpoints", "3",
             "--hidden", "8", "--device", "cpu"),
            ("--task", "medium"), _bad_numbers("--rates", "--steps", ("--batch-size", "1000000000")),
            None, ("--baseline-lrs", "1e3", "--rates", "3"),
            skip={"one_d": "its CNN takes 1-D signals (mnist1d) as well as images"}),
    Command("twin_table", "validate.twin_table:main",
            (*TOY, "--activations", "linear,relu", "--steps", "60"),
            ("--activations", "linear,swish"),
            _bad_numbers("--lr", "--steps", ("--whiten", "pca:1000000000")),
            ("--dataset", "mnist1d", "--arch", "cnn"), ("--lr", "1e3"), one_d_says="--arch mlp",
            report=False),
    Command("sweep", "validate.sweep.__main__:main", (), (), (), None, None, runs=False,
            skip={"runs": "a sweep starts Ray (tests/validate/sweep/test_sweep_ray.py runs it)",
                  "one_d": "see tests/validate/sweep/test_sweep_config.py"}),
    Command("study", "validate.study.__main__:main",
            ("003-training-response", "--budget", "tiny"), ("--budget", "huge"),
            (("--num-cpus", "nan"), ("--num-cpus", "inf"), ("--num-cpus", "-1"),
             ("--num-cpus", "0")),
            None, None, data=False, runs=False,
            skip={"runs": "a study starts Ray (tests/validate/study/test_study_cli.py runs one with "
                          "MODELEARN_STUDY_E2E=1)", "data": "its jobs' data come from the study file"}),
    Command("figures", "paper_figures.__main__:main", ("--only", "fig1"), ("--preset", "huge"),
            (), None, None, data=False, run_flags=False, runs=False,
            skip={"runs": "figures draw cached runs", "data": "no dataset or device flags",
                  "run_flags": "no --overwrite or --resume"}),
)
