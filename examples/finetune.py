"""Fine-tune a pretrained ResNet-18 built by archc: the recipe for users with pretrained weights.

1. Build `resnet` (variant 18) from the shipped spec: its state_dict keys are torchvision's.
2. Load torchvision's state_dict into it, strictly: the ImageNet weights when torchvision has
   them cached (or `--weights FILE`, a saved state_dict), else a freshly initialised
   torchvision model's, so the script runs offline.
3. Replace the head (`model.fc`) for the new task's classes.
4. Train with channels_last memory format, bf16 autocast and torch.compile.

The data are random images with random labels (`--steps` batches drawn from a fixed pool, so
the loss falls as the model fits them): this shows the mechanics, in under a minute on a
laptop CPU. Swap in a real DataLoader for real use.

    python examples/finetune.py
    python examples/finetune.py --no-compile --steps 5     # quicker, no compilation
"""
from __future__ import annotations

import argparse
import time
from typing import Sequence

import torch
import torch.nn.functional as F
import torchvision

import archc


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="a torchvision ResNet-18 state_dict saved with torch.save")
    parser.add_argument("--classes", type=int, default=5, help="classes of the new task (the new head)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def torchvision_state_dict(path: str | None) -> tuple[dict[str, torch.Tensor], str]:
    """torchvision's ResNet-18 weights: a file, the cached ImageNet weights, or a fresh model's."""
    if path:
        return torch.load(path, map_location="cpu", weights_only=True), path
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    try:  # only from torchvision's cache: no download here
        cached = torch.hub.get_dir() + "/checkpoints/" + weights.url.rsplit("/", 1)[-1]
        return torch.load(cached, map_location="cpu", weights_only=True), "ImageNet (torchvision cache)"
    except FileNotFoundError:
        return torchvision.models.resnet18(weights=None).state_dict(), "torchvision's initialisation (no cached weights)"


def make_model(args: argparse.Namespace) -> torch.nn.Module:
    model = archc.build("resnet", variant="18", seed=args.seed)
    state, source = torchvision_state_dict(args.weights)
    model.load_state_dict(state, strict=True)  # archc's keys are torchvision's: every tensor fits
    print(f"loaded {source}")
    model.fc = torch.nn.Linear(model.fc.in_features, args.classes)  # the new head
    return model.to(args.device, memory_format=torch.channels_last)


def main(argv: Sequence[str] | None = None) -> list[float]:
    """Fine-tune; returns the loss of each step."""
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    model = make_model(args)
    step_fn = model if args.no_compile else torch.compile(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    pool = 4 * args.batch_size
    images = torch.randn(pool, 3, args.image_size, args.image_size).to(args.device, memory_format=torch.channels_last)
    labels = torch.randint(0, args.classes, (pool,)).to(args.device)
    losses = []
    model.train()
    for step in range(args.steps):
        pick = torch.randint(0, pool, (args.batch_size,)).to(args.device)
        with torch.autocast(images.device.type, dtype=torch.bfloat16):
            loss = F.cross_entropy(step_fn(images[pick]), labels[pick])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        print(f"step {step + 1}/{args.steps}: loss {losses[-1]:.4f}", flush=True)
    print(f"fine-tuned resnet-18 ({args.classes} classes) in {time.perf_counter() - start:.1f} s")
    return losses


if __name__ == "__main__":
    main()
