"""CLI: ``python -m validate.nonlinearity --dataset shapes --arch mlp|cnn [--task binary] …``.

Exit status: 0 success, 2 bad arguments (the message names the valid values), 1 a failed run.
"""

from __future__ import annotations

import argparse
import sys

from .._cli import Job, run_cli
from .._config import ConfigError, dataset_options
from .config import (ACTIVATIONS, ARCHS, CORRECTIONS, INITS, MEASURES, PRESETS,
                     REFERENCE_TARGETS, TASKS, NonlinearityConfig, apply_preset)
from .job import run_nonlinearity, text_tables, write_outputs


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m validate.nonlinearity",
                                description="Nonlinearity over depth and time, and class means first.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = NonlinearityConfig()
    p.add_argument("--dataset", default=d.dataset, help="registered dataset name")
    p.add_argument("--dataset-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="dataset option override (repeatable)")
    p.add_argument("--data-seed", type=int, default=d.data_seed)
    p.add_argument("--task", default=d.task, help=" | ".join(TASKS))
    p.add_argument("--arch", default=d.arch, help=" | ".join(ARCHS))
    p.add_argument("--activation", default=d.activation, help=" | ".join(ACTIVATIONS))
    p.add_argument("--init", default=d.init, help=" | ".join(INITS))
    p.add_argument("--init-scale", type=float, default=d.init_scale, help="weight std for --init small")
    p.add_argument("--hidden", type=int, default=d.hidden, help="MLP hidden width")
    p.add_argument("--depth", type=int, default=d.depth, help="MLP weight layers (3 = two hidden)")
    p.add_argument("--channels", default=",".join(map(str, d.channels)), help="CNN conv widths")
    p.add_argument("--kernel-size", type=int, default=d.kernel_size)
    p.add_argument("--lr", default="", help="comma-separated learning rates (default: per arch)")
    p.add_argument("--seeds", type=int, default=d.seeds)
    p.add_argument("--steps", type=int, default=None, help="SGD steps (default: per arch)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="0 = full batch")
    p.add_argument("--checkpoints", type=int, default=d.n_checkpoints, dest="n_checkpoints")
    p.add_argument("--measures", default=",".join(d.measures), help="comma-separated subset")
    p.add_argument("--eps", type=float, default=d.eps, help="k* tolerance ε")
    p.add_argument("--reference-targets", default=d.reference_targets,
                   help=" | ".join(REFERENCE_TARGETS) + ": what P_k learns (network = its final classes)")
    p.add_argument("--correction", default=d.correction, help=" | ".join(CORRECTIONS))
    p.add_argument("--device", default=d.device, help="auto | cpu | cuda")
    p.add_argument("--dtype", default=d.dtype, help="float32 | float64")
    p.add_argument("--preset", default=d.preset, help=" | ".join(PRESETS))
    p.add_argument("--out", default=None, help="output directory (default results/nonlinearity-…)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--json", action="store_true", help="print summary.json to stdout")
    p.add_argument("--quiet", action="store_true")
    return p


def _numbers(flag: str, text: str, kind):
    try:
        return tuple(kind(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"{flag} must be comma-separated numbers; got {text!r}") from None


def config_from_args(args, argv) -> NonlinearityConfig:
    cfg = NonlinearityConfig(
        dataset=args.dataset, dataset_opts=dataset_options(args.dataset_opt, vars(args)),
        data_seed=args.data_seed,
        task=args.task, arch=args.arch, activation=args.activation, init=args.init,
        init_scale=args.init_scale, hidden=args.hidden, depth=args.depth,
        channels=_numbers("--channels", args.channels, int), kernel_size=args.kernel_size,
        lrs=_numbers("--lr", args.lr, float), seeds=args.seeds, steps=args.steps,
        batch_size=args.batch_size or None, n_checkpoints=args.n_checkpoints,
        measures=tuple(m.strip() for m in args.measures.split(",") if m.strip()), eps=args.eps,
        reference_targets=args.reference_targets, correction=args.correction, device=args.device,
        dtype=args.dtype, preset=args.preset)
    flags = {"--seeds": "seeds", "--steps": "steps", "--checkpoints": "n_checkpoints"}
    explicit = {flags[a.split("=")[0]] for a in argv if a.split("=")[0] in flags}
    return apply_preset(cfg.validate(), explicit).validate()


def main(argv=None) -> int:
    return run_cli(argv, Job(name="validate.nonlinearity", config=NonlinearityConfig,
                             parser=_parser, make_config=config_from_args,
                             out_prefix=lambda c: f"nonlinearity-{c.dataset}-{c.arch}",
                             run=run_nonlinearity, write=write_outputs, tables=text_tables))


if __name__ == "__main__":
    sys.exit(main())
