"""The `minicnn` command line.

    minicnn summary [--model reference_net]     layer table: output shapes, parameters
    minicnn train [--model ...] [--epochs ...]  train on CIFAR-10, checkpoint every epoch
    minicnn eval [CHECKPOINT]                   test accuracy, overall and per class

Every subcommand reports bad input as one readable line and a non-zero exit.
"""
import argparse
import sys

import numpy as np


def cmd_summary(args):
    from minicnn.models import MODELS
    from minicnn.tensor import Tensor, no_grad
    model = MODELS[args.model]()
    x = Tensor(np.zeros((1, 3, 32, 32), dtype=np.float32))
    with no_grad():
        acts = model.activations(x)
    print(f"{args.model}: input (3, 32, 32)")
    print(f"{'layer':<9}{'module':<54}{'output':<16}{'params':>9}")
    total = 0
    for name, out in acts.items():
        layer = model[name]
        params = sum(p.size for p in layer.parameters())
        total += params
        print(f"{name:<9}{repr(layer):<54}{str(out.shape[1:]):<16}{params:>9,}")
    print(f"total parameters: {total:,}")
    return 0


def cmd_train(args):
    from minicnn.train import config_from_args, train
    command = "minicnn " + " ".join(sys.argv[1:]) if args.command_line is None else args.command_line
    meta = train(config_from_args(args), resume=args.resume, progress=not args.quiet,
                 command=command)
    print(f"test accuracy {meta.get('test_accuracy', float('nan')):.4f} after epoch "
          f"{meta['epoch']}, {meta['train_seconds'] / 60:.1f} min of training; files in {args.out}")
    return 0


def cmd_eval(args):
    from minicnn.data import load_cifar10
    from minicnn.models import open_model
    from minicnn.train import evaluate
    model = open_model(args.checkpoint)
    meta = model.meta
    data = load_cifar10(args.data)
    if list(data.classes) != list(meta["classes"]):
        raise ValueError(f"eval: the data's classes {list(data.classes)} differ from the "
                         f"checkpoint's {meta['classes']}")
    accuracy, confusion = evaluate(model, data.test_x, data.test_y,
                                   np.float32(meta["mean"]), np.float32(meta["std"]))
    print(f"{args.checkpoint}: test accuracy {accuracy:.4f} on {len(data.test_y):,} images "
          f"({data.source})")
    for k, name in enumerate(meta["classes"]):
        print(f"  {name:<11}{confusion[k, k] / max(confusion[k].sum(), 1):.4f}")
    return 0


def add_train_options(p):
    from minicnn.train import SCHEDULES, TrainConfig
    d = TrainConfig()
    p.add_argument("--model", choices=["reference_net", "mlp"], default=d.model)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", dest="batch_size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    p.add_argument("--momentum", type=float, default=d.momentum)
    p.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=d.nesterov)
    p.add_argument("--weight-decay", dest="weight_decay", type=float, default=d.weight_decay)
    p.add_argument("--schedule", choices=SCHEDULES, default=d.schedule)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=d.augment,
                   help="random crop (4-pixel padding) and horizontal flip")
    p.add_argument("--train-limit", dest="train_limit", type=int, default=None,
                   help="train on a random subset of this many images")
    p.add_argument("--test-limit", dest="test_limit", type=int, default=None)
    p.add_argument("--data", default=None, help="CIFAR-10 source (default: $MINICNN_DATA, "
                   "the cache, then the download)")
    p.add_argument("--out", default=d.out, help="run folder: checkpoints, metrics, plots")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--command-line", dest="command_line", default=None, help=argparse.SUPPRESS)


def build_parser():
    from minicnn.models import MODELS
    parser = argparse.ArgumentParser(prog="minicnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("summary", help="print a model's layers, output shapes and parameter counts")
    p.add_argument("--model", choices=sorted(MODELS), default="reference_net")
    p.set_defaults(run=cmd_summary)

    p = sub.add_parser("train", help="train a model on CIFAR-10")
    add_train_options(p)
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("eval", help="test accuracy of a checkpoint, overall and per class")
    p.add_argument("checkpoint", nargs="?", default="reference_net",
                   help="a .npz checkpoint, or the name of a shipped model (default reference_net)")
    p.add_argument("--data", default=None, help="CIFAR-10 source")
    p.set_defaults(run=cmd_eval)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, OSError) as error:
        print(f"minicnn {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"minicnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
