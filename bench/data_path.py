"""The data path: in-memory batches against torchvision's DataLoader, and cached teacher outputs
against recomputing them on every batch."""

from __future__ import annotations

import torch

from common import timed
from distill import data, losses, models, train


def data_path(ds, n: int, batch_size: int = 256) -> dict:
    """One pass over n training images: slicing in-memory tensors vs. a torchvision DataLoader."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    X, y = ds.X_train[:n], ds.y_train[:n]

    def ours():
        perm = torch.randperm(n)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            xb, yb = X[idx], y[idx]
        return xb, yb

    tv = datasets.FashionMNIST(str(data.DATA_DIR), train=True, download=False, transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((ds.mean,), (ds.std,))]))
    loader = DataLoader(Subset(tv, range(n)), batch_size=batch_size, shuffle=True, num_workers=0)

    def baseline():
        for xb, yb in loader:
            pass
        return xb, yb

    cpu = torch.device("cpu")
    t_ours, t_base = timed(ours, cpu, repeats=3), timed(baseline, cpu, repeats=1)
    return {"n": n, "batch_size": batch_size, "ours_seconds": t_ours, "dataloader_seconds": t_base,
            "ours_examples_per_s": n / t_ours, "dataloader_examples_per_s": n / t_base,
            "speedup": t_base / t_ours}


def cached_outputs(device, ds, teacher, n: int, epochs: int, batch_size: int = 256) -> dict:
    """Distil a width-64 student for `epochs` epochs of n images: teacher logits computed once
    (what `train.teacher_outputs` does, without the disk cache) vs. on every batch."""
    X = ds.X_train[:n].to(device)
    teacher = teacher.to(device).eval()
    cfg = train.TrainConfig(epochs=epochs, batch_size=batch_size, lr=3e-3, progress=False,
                            device=device.type)

    def once():
        student = models.make_student(64, seed=0)
        logits = train.predict(teacher, X)
        train.fit(student, X, (logits,), lambda s, t: losses.kd_loss(s, t, 4.0), cfg)

    def every_batch():
        student = models.make_student(64, seed=0)
        idx_all = torch.arange(n)

        def loss(s, idx):
            with torch.no_grad():
                t = teacher(X[idx])
            return losses.kd_loss(s, t, 4.0)

        train.fit(student, X, (idx_all,), loss, cfg)

    t_once, t_every = timed(once, device), timed(every_batch, device)
    return {"n": n, "epochs": epochs, "cached_seconds": t_once, "recompute_seconds": t_every,
            "speedup": t_every / t_once}
