"""Fine-tuning many copies of one model side by side, each on its own data, as one batched model.

Valuing owners fine-tunes the trainer's model once per owner (and per coalition) on the trainer's
training set plus that owner's samples. Each of those runs is small (a few hundred Adam steps of a
small model), so one at a time the time goes to Python and to launching tiny kernels. Here K copies
train together: their parameters are stacked, `torch.func.vmap` runs the K forward passes as one,
and Adam updates all K at once. Each copy keeps what `models.fit` would do with it alone: its own
shuffles (the same seeded generator over its own sample count), its own mini-batches (the last one
short, padded with weight-0 rows), its own number of steps, and torch's Adam update, so its weights
match the one-at-a-time run to float rounding.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.models import Classifier, TrainConfig, fine_tune, model_device

#: Adam's defaults in torch, as `models.fit` uses them.
BETAS, EPS = (0.9, 0.999), 1e-8
#: Layers whose training-mode behaviour a batched run would not reproduce (random masks, batch
#: statistics): models holding one are fine-tuned one at a time.
_UNBATCHABLE = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._NormBase)


class ModelBatch:
    """K copies of one model with their own parameters (stacked on a leading axis) and the
    template's buffers.

    Parameters
    ----------
    template : Classifier
        The model whose architecture and buffers every copy shares.
    params : dict of str to torch.Tensor
        Each parameter stacked over the K copies.
    """

    def __init__(self, template: Classifier, params: dict[str, torch.Tensor]):
        self.template = template
        self.params = params
        self.buffers = dict(template.named_buffers())

    def __len__(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def logits(self, x: torch.Tensor, shared: bool = False) -> torch.Tensor:
        """The K copies' logits: for `x` of shape (K, n, ...) (each copy its own inputs), or, with
        `shared`, for one `x` of shape (n, ...) seen by every copy."""

        def one(params: dict[str, torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
            return functional_call(self.template, (params, self.buffers), (inputs,))

        return vmap(one, in_dims=(0, None if shared else 0))(self.params, x)

    @torch.no_grad()
    def predict(self, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Each copy's predicted labels for `x`: shape (K, n)."""
        self.template.eval()
        device = model_device(self.template)
        out = np.empty((len(self), len(x)), dtype=np.int64)
        for start in range(0, len(x), batch_size):
            rows = slice(start, start + batch_size)
            z = self.logits(torch.from_numpy(x[rows]).to(device), shared=True)
            out[:, rows] = z.argmax(dim=-1).cpu().numpy()
        return out

    def model(self, i: int) -> Classifier:
        """Copy `i` as a model of its own."""
        model = copy.deepcopy(self.template)
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(self.params[name][i])
        return model.eval()


def copies_at_once(model: Classifier, sample_shape: tuple[int, ...], batch_size: int) -> int:
    """How many copies of `model` to train side by side so their activations of one mini-batch stay
    within about 64 MB (at most 64): measured on one sample's pass through the model."""
    sizes: list[int] = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: sizes.append(o.numel())) for m in model.modules()
    ]
    try:
        with torch.no_grad():
            model(torch.zeros((1, *sample_shape), device=model_device(model)))
    finally:
        for h in hooks:
            h.remove()
    per_copy = batch_size * max(sum(sizes), 1)
    return int(min(64, max(1, 2**24 // per_copy)))


def batchable(model: nn.Module) -> bool:
    """Whether copies of `model` train side by side as they would alone (no dropout, no batch
    statistics)."""
    return not any(isinstance(m, _UNBATCHABLE) for m in model.modules())


def fine_tune_many(
    model: Classifier,
    base: Dataset,
    extras: Sequence[Dataset | None],
    config: TrainConfig,
    *,
    seed: int = 0,
) -> ModelBatch:
    """`models.fine_tune(model, base + extra, config, seed=seed)` for every extra at once.

    Parameters
    ----------
    model : Classifier
        The model every copy starts from (untouched); it must be `batchable`.
    base : Dataset
        The samples every copy trains on (the trainer's training set).
    extras : sequence of Dataset or None
        Each copy's own samples, appended to `base` (None or empty: none).
    config : TrainConfig
        Fine-tuning epochs, learning rate, batch size and weight decay.
    seed : int
        Seed of every copy's shuffles, as `fit` seeds them.

    Returns
    -------
    ModelBatch
        The K fine-tuned copies, in the order of `extras`.
    """
    if not batchable(model):
        raise ValueError("model holds dropout or normalisation layers: fine-tune one at a time")
    device = model_device(model)
    k = len(extras)
    own = [e if e is not None and len(e) else None for e in extras]
    pool = Dataset.concat([base, *(e for e in own if e is not None)])
    x = torch.from_numpy(pool.x).to(device)
    y = torch.from_numpy(pool.y).to(device)
    index, weight, steps = _schedule(len(base), own, config, seed)
    index, weight = index.to(device), weight.to(device)
    params = {
        name: p.detach().unsqueeze(0).repeat(k, *([1] * p.ndim)).clone().requires_grad_(True)
        for name, p in model.named_parameters()
    }
    batch = ModelBatch(model, params)
    first = {n: torch.zeros_like(p) for n, p in params.items()}
    second = {n: torch.zeros_like(p) for n, p in params.items()}
    was_training = model.training
    model.train()
    try:
        for t in range(index.shape[0]):
            live = steps > t  # copies still training at step t (all earlier steps taken alike)
            w = weight[t]
            z = batch.logits(x[index[t]])
            losses = nn.functional.cross_entropy(
                z.flatten(0, 1), y[index[t]].flatten(), reduction="none"
            ).view(k, -1)
            loss = ((losses * w).sum(1) / w.sum(1).clamp(min=1.0))[live].sum()
            grads = torch.autograd.grad(loss, list(params.values()))
            with torch.no_grad():
                _adam_step(params, grads, first, second, live, t + 1, config)
    finally:
        model.train(was_training)
    for p in params.values():
        p.requires_grad_(False)
    return batch


def _schedule(
    n_base: int, extras: Sequence[Dataset | None], config: TrainConfig, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every copy's mini-batches as rows of the pooled data (`base`, then the extras in order):
    (steps, K, batch) indices, their weights (0 for the padding of a short batch), and each copy's
    number of steps. Copy i's shuffles are `fit`'s: one generator seeded with `seed`, one
    permutation of its own sample count per epoch."""
    size = config.batch_size
    plans, offset = [], n_base
    for extra in extras:
        n_extra = 0 if extra is None else len(extra)
        rows = torch.cat([torch.arange(n_base), torch.arange(offset, offset + n_extra)])
        offset += n_extra
        gen = torch.Generator().manual_seed(seed)
        per_epoch = math.ceil(len(rows) / size)
        batches = torch.full((config.finetune_epochs * per_epoch, size), -1, dtype=torch.long)
        for epoch in range(config.finetune_epochs):
            order = rows[torch.randperm(len(rows), generator=gen)]
            padded = torch.full((per_epoch * size,), -1, dtype=torch.long)
            padded[: len(order)] = order
            batches[epoch * per_epoch : (epoch + 1) * per_epoch] = padded.view(per_epoch, size)
        plans.append(batches)
    steps = torch.tensor([len(p) for p in plans])
    index = torch.full((int(steps.max()), len(plans), size), -1, dtype=torch.long)
    for i, plan in enumerate(plans):
        index[: len(plan), i] = plan
    weight = (index >= 0).to(torch.float32)
    return index.clamp(min=0), weight, steps


def _adam_step(
    params: dict[str, torch.Tensor],
    grads: Sequence[torch.Tensor],
    first: dict[str, torch.Tensor],
    second: dict[str, torch.Tensor],
    live: torch.Tensor,
    step: int,
    config: TrainConfig,
) -> None:
    """torch's single-tensor Adam step (L2 weight decay, no amsgrad), in its order of operations, on
    the copies that are `live`; the others keep their parameters and moments."""
    beta1, beta2 = BETAS
    step_size = config.finetune_lr / (1 - beta1**step)
    correction = (1 - beta2**step) ** 0.5
    everyone = bool(live.all())
    for (name, p), g in zip(params.items(), grads):
        if config.weight_decay:
            g = g.add(p, alpha=config.weight_decay)
        m, v = first[name], second[name]
        if not everyone:  # the copies done training keep what they have
            keep = ~live.view(-1, *([1] * (p.ndim - 1)))
            g = g.masked_fill(keep, 0.0)
            saved = p.detach().clone(), m.clone(), v.clone()
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        denom = (v.sqrt() / correction).add_(EPS)
        p.addcdiv_(m, denom, value=-step_size)
        if not everyone:
            for now, before in zip((p, m, v), saved):
                now.copy_(torch.where(keep, before, now))


def fine_tune_each(
    model: Classifier,
    base: Dataset,
    extras: Sequence[Dataset | None],
    config: TrainConfig,
    *,
    seed: int = 0,
) -> list[Classifier]:
    """`fine_tune` one at a time: what `fine_tune_many` replaces, for models it cannot batch."""
    return [
        fine_tune(
            model,
            base if e is None or not len(e) else Dataset.concat([base, e]),
            config,
            seed=seed,
        )
        for e in extras
    ]
