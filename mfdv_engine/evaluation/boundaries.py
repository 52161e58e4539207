"""Data behind the decision-boundary views; the GUI only plots what these return.

- ``probability_grid``: for 2-D inputs (``moons``), P(class 1) on a grid, with
  the noise on (Monte-Carlo) and off (σ = 0): the paper's Figure 1, live.
- ``input_slice``: for images, the predicted class on the plane through an
  example spanned by its adversarial direction and a random direction.
- ``feature_pca``: the trunk features entering the first stochastic layer,
  projected on their two principal components, with the noise clouds that the
  layer adds around each point.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..stochastic import StochasticLayer, mc_predict, set_noise, stochastic_layers


@dataclass
class Grid:
    xs: torch.Tensor
    ys: torch.Tensor
    values: torch.Tensor  # (len(ys), len(xs))


@torch.no_grad()
def probability_grid(model: torch.nn.Module, points: torch.Tensor, *, resolution: int = 120, mc_samples: int = 15,
                     margin: float = 0.5, noise: bool = True) -> Grid:
    """P(class 1) over the bounding box of ``points`` (N, 2) plus ``margin``."""
    model.eval()
    lo = points.min(0).values - margin
    hi = points.max(0).values + margin
    xs = torch.linspace(float(lo[0]), float(hi[0]), resolution)
    ys = torch.linspace(float(lo[1]), float(hi[1]), resolution)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    flat = torch.stack([gx.flatten(), gy.flatten()], 1).to(_device(model))
    layers = stochastic_layers(model)
    before = [l.noise_enabled for l in layers]
    try:
        set_noise(model, noise)
        p = mc_predict(model, flat, mc_samples if noise else 1)[:, 1]
    finally:
        for l, b in zip(layers, before):
            l.noise_enabled = b
    return Grid(xs, ys, p.view(resolution, resolution).cpu())


def input_slice(model: torch.nn.Module, x: torch.Tensor, y: int, adv_direction: torch.Tensor, *,
                extent: float, resolution: int = 41, mc_samples: int = 15, seed: int = 0) -> dict:
    """Predicted class and P(true class) on x + a·u + b·v, u = adversarial direction, v ⟂ u random."""
    model.eval()
    u = adv_direction.flatten().float()
    u = u / u.norm().clamp_min(1e-12)
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(u.shape, generator=g).to(u.device)
    v = v - (v @ u) * u
    v = v / v.norm().clamp_min(1e-12)
    coords = torch.linspace(-extent, extent, resolution)
    ga, gb = torch.meshgrid(coords, coords, indexing="ij")
    dirs = ga.flatten()[:, None].to(u.device) * u + gb.flatten()[:, None].to(u.device) * v
    batch = (x.flatten()[None] + dirs).clamp(0, 1).view(-1, *x.shape)
    preds, pt = [], []
    with torch.no_grad():
        for chunk in batch.split(512):
            p = mc_predict(model, chunk, mc_samples)
            preds.append(p.argmax(1).cpu())
            pt.append(p[:, y].cpu())
    return {"coords": coords, "pred": torch.cat(preds).view(resolution, resolution),
            "p_true": torch.cat(pt).view(resolution, resolution),
            "axes": ("adversarial direction", "random direction"), "extent": extent}


@torch.no_grad()
def feature_pca(model: torch.nn.Module, x: torch.Tensor, *, draws: int = 20) -> dict:
    """2-D PCA of the features entering the first stochastic layer, with noise clouds."""
    model.eval()
    layers = stochastic_layers(model)
    if not layers or getattr(model, "noise_in_trunk", False):
        raise ValueError("feature PCA needs a model whose noise starts with a stochastic layer in its head")
    h = model.trunk(x).float()
    first: StochasticLayer = layers[0]
    mean = h.mean(0, keepdim=True)
    _, _, v = torch.pca_lowrank(h - mean, q=2, center=False)
    clean = (h - mean) @ v
    noisy = torch.stack([(first(h) - mean) @ v for _ in range(draws)], 1)  # (N, draws, 2)
    return {"clean": clean.cpu(), "noisy": noisy.cpu(), "components": v.cpu()}


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def compute_boundaries(model: torch.nn.Module, ds, eps: float, *, n_points: int = 300, device: torch.device,
                       on_progress=None, cancel=None) -> dict:
    """Everything the boundary views draw, as plain arrays and scalars (stored as the run's
    ``boundaries`` result): grids with noise on and off for 2-D data; for images the
    input slice along an FGSM direction at ``eps`` and the feature PCA with its noise clouds."""
    import numpy as np

    from ..attacks import make_attack

    progress = on_progress or (lambda what, frac: None)
    x = ds.test.x[:n_points]
    x = x.float().div(255) if x.dtype == torch.uint8 else x.float()
    y = ds.test.y[:n_points]
    out: dict = {"labels": y.numpy(), "eps": float(eps), "classes": list(getattr(ds, "classes", []) or [])}
    if x.dim() == 2 and x.shape[1] == 2:
        progress("probability grid (noise on)", 0.2)
        on = probability_grid(model, x.to(device), noise=True)
        progress("probability grid (noise off)", 0.6)
        off = probability_grid(model, x.to(device), noise=False)
        out.update(kind="grid", xs=on.xs.numpy(), ys=on.ys.numpy(), on=on.values.numpy(), off=off.values.numpy(),
                   points=x.numpy())
        return out
    progress("adversarial direction", 0.1)
    x0, y0 = x[:1].to(device), y[:1].to(device)
    adv = make_attack("fgsm", eps=eps).run(model, x0, y0)
    progress("input slice", 0.3)
    sl = input_slice(model, x0[0], int(y0[0]), (adv - x0)[0], extent=2 * eps * float(np.sqrt(x0[0].numel())))
    out.update(kind="image", slice_pred=sl["pred"].numpy(), slice_p=sl["p_true"].numpy(),
               coords=sl["coords"].numpy(), axes=list(sl["axes"]), true=int(y0[0]))
    if cancel is not None and cancel.is_set():
        return out
    progress("feature PCA", 0.7)
    try:
        pca = feature_pca(model, x[:200].to(device))
        out.update(pca_clean=pca["clean"].numpy(), pca_noisy=pca["noisy"].numpy(), pca_labels=y[:200].numpy())
    except ValueError as e:
        out["pca_error"] = str(e)
    return out
