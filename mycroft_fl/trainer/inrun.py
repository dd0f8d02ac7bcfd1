"""In-Run Data Shapley (Wang, Mittal, Song, Jia 2024, arXiv 2406.11011): value every owner inside ONE
training run instead of one retrain per owner or coalition.

The run is the trainer's own scoring procedure (`Trainer.score`: the same fine-tuning or retraining,
epochs, batch size, optimiser and seed) on its training set plus every owner's subset. Each step is a
small cooperative game among the samples of its batch B: the utility of a set S of them is minus the
loss on the held-out hard samples after the step that S alone would have made. Its Shapley values are
summed over the steps and over an owner's samples.

First order, a sample z of B is worth the drop of that loss its part of the step causes,
phi_t(z) = (lr / |B|) < P grad L_hard(theta_t), grad l(z; theta_t) >, the 1/|B| because the loss of
a batch is its mean. P is the optimiser's preconditioner: the identity for SGD; for Adam (what the
trainer uses) 1 / (sqrt(v_hat_t) + eps) with this step's second-moment estimate. Adam's momentum only
spreads a gradient's effect over the following steps, with weights that sum to about one, so a sample
is credited its whole effect at the step that computed its gradient; weight decay belongs to no sample.
With `second_order`, the batch's samples also share the curvature of the hard-sample loss: each gets
-(1/2) (lr / |B|) < P H u_B, grad l(z) > more, u_B = lr P (mean gradient of B) the whole step, H the
Hessian of the hard-sample loss (one Hessian-vector product per step). Per-sample gradients of the
whole model come from `torch.func` (vmap of grad), for the owners' samples in each batch only.

What it measures is a contribution to this run with every owner present, in units of the hard-sample
loss, not an owner's worth alone; exact per-owner retrains of the best few (the `inrun` valuer's
`recheck`) repair the top of the ranking.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jvp, vmap

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.models import fine_tune, train_new
from mycroft_fl.core.progress import Progress
from mycroft_fl.trainer.trainer import Trainer

Params = dict[str, torch.Tensor]


@dataclass(frozen=True)
class InRunValues:
    """What one valued training run found and cost.

    Parameters
    ----------
    values : dict
        Owner id to its summed In-Run Shapley value (hard-sample loss drop; higher is more useful).
    steps : int
        Optimiser steps of the run.
    per_sample_gradients : int
        Per-sample gradients computed (one per owner sample per batch it is in).
    """

    values: dict[str, float]
    steps: int
    per_sample_gradients: int


class StepValues:
    """The `fit` step hook that accumulates each owner's In-Run Shapley value over a run.

    Parameters
    ----------
    data : Dataset
        The run's training set (what `fit`'s batch indices point into).
    owner_of : numpy.ndarray
        For every row of `data`, the index of the owner it came from, or -1 (the trainer's own).
    hard : Dataset
        The samples whose loss is the utility (the trainer's held-out hard samples).
    n_owners : int
        How many owners.
    second_order : bool
        Add the batch's interaction term through the hard-sample loss's curvature.
    progress : callable, optional
        Called as `progress(stage, step, total)` every step, with `total` steps.
    total : int
        Steps of the run (for `progress`).
    """

    def __init__(
        self,
        data: Dataset,
        owner_of: np.ndarray,
        hard: Dataset,
        n_owners: int,
        *,
        second_order: bool = False,
        progress: Progress | None = None,
        total: int = 0,
    ):
        self.x, self.y = torch.from_numpy(data.x), torch.from_numpy(data.y)
        self.hard_x, self.hard_y = torch.from_numpy(hard.x), torch.from_numpy(hard.y)
        self.owner_of = torch.from_numpy(np.asarray(owner_of, np.int64))
        self.values = np.zeros(n_owners)
        self.second_order = second_order
        self.progress, self.total = progress, total
        self.steps = self.per_sample_gradients = 0

    def __call__(self, model: nn.Module, batch: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        """Credit the owners' samples of `batch` with their share of the step `opt` is about to take."""
        self.steps += 1
        owners = self.owner_of[batch]
        mine = owners >= 0
        if mine.any():
            self._credit(model, batch[mine], owners[mine], len(batch), opt)
        if self.progress:
            self.progress("inrun: training steps", self.steps, self.total)

    def _credit(
        self,
        model: nn.Module,
        rows: torch.Tensor,
        owners: torch.Tensor,
        batch_size: int,
        opt: torch.optim.Optimizer,
    ) -> None:
        names = [n for n, _ in model.named_parameters()]
        params = {n: p.detach() for n, p in model.named_parameters()}
        buffers = dict(model.named_buffers())

        def loss(p: Params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(functional_call(model, (p, buffers), (x,)), y)

        def sample_loss(p: Params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return loss(p, x[None], y[None])

        hard_grad = grad(loss)(params, self.hard_x, self.hard_y)
        lr, precondition = step_preconditioner(opt, names)
        direction = {n: precondition[n] * hard_grad[n] for n in names}
        if self.second_order:  # -(1/2) P H u_B, u_B = lr P (the batch's mean gradient)
            step = {n: lr * precondition[n] * p.grad for n, p in model.named_parameters()}
            _, curvature = jvp(
                lambda p: grad(loss)(p, self.hard_x, self.hard_y), (params,), (step,)
            )
            direction = {n: direction[n] - 0.5 * precondition[n] * curvature[n] for n in names}
        per_sample = vmap(grad(sample_loss), in_dims=(None, 0, 0))(
            params, self.x[rows], self.y[rows]
        )
        dots = sum((per_sample[n].flatten(1) @ direction[n].flatten()) for n in names)
        self.per_sample_gradients += len(rows)
        np.add.at(self.values, owners.numpy(), (lr / batch_size) * dots.double().numpy())


def step_preconditioner(opt: torch.optim.Optimizer, names: list[str]) -> tuple[float, Params]:
    """The learning rate and the diagonal preconditioner of the step `opt` is about to take (its
    parameters' gradients are this batch's): 1 / (sqrt(v_hat) + eps) for Adam, with this step's
    second moment (weight decay added to the gradient, as Adam does), else 1 (SGD)."""
    group = opt.param_groups[0]
    params = [p for g in opt.param_groups for p in g["params"]]
    if not isinstance(opt, torch.optim.Adam):
        return group["lr"], {n: torch.ones_like(p) for n, p in zip(names, params)}
    beta2, eps, decay = group["betas"][1], group["eps"], group["weight_decay"]
    out = {}
    for n, p in zip(names, params):
        state = opt.state.get(p, {})
        t = int(state["step"]) + 1 if "step" in state else 1
        g = p.grad.detach() + decay * p.detach()
        v = beta2 * state["exp_avg_sq"] + (1 - beta2) * g**2 if state else (1 - beta2) * g**2
        out[n] = 1.0 / ((v / (1 - beta2**t)).sqrt() + eps)
    return group["lr"], out


def in_run_shapley(
    trainer: Trainer,
    subsets: Mapping[str, Dataset],
    *,
    second_order: bool = False,
    progress: Progress | None = None,
) -> InRunValues:
    """Every owner's In-Run Shapley value from one run of the trainer's scoring procedure on its
    training set plus all the owners' subsets (in owner-id order, as `Coalitions` trains a coalition).

    Parameters
    ----------
    trainer : Trainer
        Its training set, procedure (fine-tuning or retraining; epochs, batch size, seed) and held-out
        hard samples (the utility).
    subsets : mapping
        Owner id to the samples it sent (empty ones are worth 0).
    second_order : bool
        Add the interaction term (one Hessian-vector product per step).
    progress : callable, optional
        Called as `progress(stage, step, total)`.

    Returns
    -------
    InRunValues
        The values and what the run cost.
    """
    ids = sorted(subsets)
    parts = [trainer.data.train, *(subsets[k] for k in ids)]
    data = Dataset.concat(parts)
    owner_of = np.concatenate([np.full(len(p), i - 1) for i, p in enumerate(parts)])
    config = trainer.config.training
    epochs = config.epochs if trainer.config.retrain else config.finetune_epochs
    hook = StepValues(
        data,
        owner_of,
        trainer.hard_eval,
        len(ids),
        second_order=second_order,
        progress=progress,
        total=epochs * -(-len(data) // config.batch_size),
    )
    if trainer.config.retrain:
        train_new(trainer.spec, data, config, seed=trainer.seed, on_step=hook)
    else:
        fine_tune(trainer.baseline, data, config, seed=trainer.seed, on_step=hook)
    return InRunValues(dict(zip(ids, hook.values.tolist())), hook.steps, hook.per_sample_gradients)
