"""Wall time of the lecture's two experiments: this project against a notebook-style loop.

Both sides train the lecture's nets (2 autoencoders, 3 classifiers) with the project's one
trainer step (the notebook's ``Train()``) for the same epochs and seed. They differ only in what
the notebook (iitkliv/dlvcnptel lecture22.ipynb) does around it: torchvision's MNIST with
``ToTensor()`` through ``DataLoader(batch_size=100, shuffle=True, num_workers=4)``, a test
DataLoader each epoch, and scikit-image SSIM of the first test image. The project also
measures more per epoch (SSIM and MAE over the whole test set), so the comparison favours
the notebook.

    python benchmarks/notebook_speed.py --data-dir D [--epochs 10] [--side both|project|notebook]

Prints seconds per side and the ratio. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import time

import torch
from skimage.metrics import structural_similarity
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from reproduce import experiments
from reproduce.config import RunConfig
from reproduce.train import train_step


def project(data_dir: str, epochs: int) -> float:
    start = time.perf_counter()
    for experiment in ("regression", "classification"):
        experiments.run(RunConfig.at_scale(experiment, epochs=epochs), data_dir)
    return time.perf_counter() - start


def notebook(data_dir: str, epochs: int) -> float:
    start = time.perf_counter()
    to_tensor = transforms.Compose([transforms.ToTensor()])
    train = datasets.MNIST(data_dir, train=True, transform=to_tensor)
    test = datasets.MNIST(data_dir, train=False, transform=to_tensor)
    loader = DataLoader(train, batch_size=100, shuffle=True, num_workers=4)
    test_loader = DataLoader(test, batch_size=100, shuffle=False, num_workers=4)
    for experiment in ("regression", "classification"):
        replicas = experiments.build_replicas(RunConfig.at_scale(experiment, epochs=epochs))
        first_test = test[0][0].view(-1, 28 * 28)
        for _ in range(epochs):
            for inputs, labels in loader:
                inputs = inputs.view(-1, 28 * 28)
                target = inputs if experiment == "regression" else labels
                for r in replicas:
                    train_step(r.net, r.optimizer, r.criterion, inputs, target).item()
            with torch.no_grad():
                for r in replicas:
                    r.net.eval()
                    if experiment == "regression":
                        out = r.net(first_test).view(28, 28).double().numpy()
                        structural_similarity(out, first_test.view(28, 28).double().numpy(), data_range=2.0)
                    else:
                        for inputs, labels in test_loader:
                            (r.net(inputs.view(-1, 28 * 28)).argmax(1) == labels).sum().item()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--side", choices=("both", "project", "notebook"), default="both")
    args = parser.parse_args()
    seconds = {}
    if args.side in ("both", "project"):
        seconds["project"] = project(args.data_dir, args.epochs)
    if args.side in ("both", "notebook"):
        seconds["notebook"] = notebook(args.data_dir, args.epochs)
    for side, s in seconds.items():
        print(f"{side:9s} {s:7.1f} s for {args.epochs} epochs of both experiments")
    if len(seconds) == 2:
        print(f"notebook / project = {seconds['notebook'] / seconds['project']:.2f}x")


if __name__ == "__main__":
    main()
