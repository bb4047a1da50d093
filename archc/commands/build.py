"""archc build SPEC: compile to PyTorch, run one forward pass, optionally save a program."""
from __future__ import annotations

import argparse
from pathlib import Path

from archc.commands._common import EXIT_OK, UsageError, add_spec_arguments, check_output, count_arg, echo, load, write_failed
from archc.ir.limits import check_forward_cost, check_param_count
from archc.models import annotate, require_torch
from archc.spec.limits import Limits

NAME = "build"
HELP = "compile to PyTorch and run one forward pass"


def configure(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="save the model: FILE.pt2 a torch.export program, FILE.onnx an ONNX model"
    )
    parser.add_argument(
        "--weights", metavar="CKPT", help="load these trained weights (a torch.save'd state_dict, or a dict holding one "
        "under 'state_dict' or 'model'; with --outputs, a full model's checkpoint loads into the backbone) before -o",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the weights, so -o files are reproducible (default: 0)")
    defaults = Limits()
    parser.add_argument(
        "--max-params", type=count_arg, default=defaults.max_params, metavar="N",
        help="refuse a spec with more learnable parameters than N, before allocating any (default: %(default).0e)",
    )
    parser.add_argument(
        "--max-activation-bytes", type=count_arg, default=defaults.max_activation_bytes, metavar="N",
        help="refuse a spec whose forward pass at batch 1 needs more activation memory than N bytes, "
        "estimated statically (default: %(default).2e)",
    )
    parser.add_argument(
        "--max-macs", type=count_arg, default=defaults.max_macs, metavar="N",
        help="refuse a spec whose forward pass at batch 1 needs more multiply-adds than N (default: %(default).0e)",
    )


def run(args: argparse.Namespace) -> int:
    from archc.summary import totals_text

    if args.output and not args.output.endswith((".pt2", ".onnx")):
        raise UsageError(f"-o: expected a .pt2 or .onnx file, got {args.output!r}")
    check_output(args.output)
    require_torch("archc build")
    if args.weights and not Path(args.weights).is_file():
        raise UsageError(f"--weights: no such file {args.weights!r}")
    network = load(args)
    # Static counts: refused here, before build_network allocates a single weight.
    check_param_count(network, args.max_params, "--max-params")
    check_forward_cost(network, args.max_activation_bytes, args.max_macs, ("--max-activation-bytes", "--max-macs"))
    echo(totals_text(network))
    from archc.backends.pytorch.build import build_network
    from archc.backends.pytorch.check import check_forward, export_onnx, export_program, run_once

    model = annotate(build_network(network, seed=args.seed), network)
    if args.weights:
        load_checkpoint(model, args.weights, bool(network.extracted))
    shapes = run_once(model, network)
    check_forward(shapes, network)
    for name, shape in shapes.items():
        echo(f"forward (eval, batch 1): {name} {'x'.join(map(str, shape))}")
    if args.output:
        save = export_onnx if args.output.endswith(".onnx") else export_program
        try:
            save(model, network, args.output)
        except BrokenPipeError:
            raise  # writing to a closed pipe (-o /dev/stdout | head): archc.cli ends quietly
        except OSError as exc:
            raise write_failed(args.output, exc) from None
        echo(f"wrote {args.output}")
    return EXIT_OK


def load_checkpoint(model: object, path: str, backbone: bool) -> None:
    """--weights into the built model: every tensor must match; a backbone ignores the head's."""
    from archc.models import load_weights, read_state_dict

    try:
        state = read_state_dict(path)
    except (OSError, RuntimeError, ValueError, EOFError) as exc:  # not a torch.save file, or not tensors
        raise UsageError(f"--weights: cannot read a state_dict from {path!r}: {exc}") from None
    try:
        if backbone:
            skipped = load_weights(model, state)  # type: ignore[arg-type]
            if skipped:
                echo(f"--weights: ignored {len(skipped)} tensors the backbone does not have (first {skipped[0]!r})")
        else:
            model.load_state_dict(state, strict=True)  # type: ignore[attr-defined]
    except (KeyError, ValueError, RuntimeError) as exc:
        raise UsageError(f"--weights: {path!r} does not fit this model: {' '.join(str(exc).split())}") from None
    echo(f"loaded {path}")
