"""Optimizers and learning-rate schedulers chosen by name; an optimizer's options are validated by torch's own
checks, without building it."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim import lr_scheduler as schedulers

# Optimizers that cannot run in a plain step loop: LBFGS needs a closure, SparseAdam sparse gradients,
# Muon only handles 2-D parameters.
_EXCLUDED_OPTIMIZERS = {"lbfgs", "sparseadam", "muon"}

OPTIMIZERS: dict[str, type[Optimizer]] = {
    name.lower(): cls
    for name, cls in sorted(vars(torch.optim).items(), key=lambda item: item[0].lower())
    if inspect.isclass(cls) and issubclass(cls, Optimizer) and cls is not Optimizer
    and name.lower() not in _EXCLUDED_OPTIMIZERS
}

# name -> (scheduler class, the arguments the trainer fills in from lr and total_steps). Schedulers
# are stepped once per optimizer step, so every length below is counted in steps.
LRFactory = tuple[type, Callable[[float, int], dict[str, Any]]]
LR_SCHEDULERS: dict[str, LRFactory | None] = {
    "none": None,
    "cosine": (schedulers.CosineAnnealingLR, lambda lr, total: {"T_max": total}),
    "step": (schedulers.StepLR, lambda lr, total: {}),
    "multistep": (schedulers.MultiStepLR, lambda lr, total: {}),
    "exponential": (schedulers.ExponentialLR, lambda lr, total: {}),
    "linear": (schedulers.LinearLR, lambda lr, total: {"total_iters": total}),
    "polynomial": (schedulers.PolynomialLR, lambda lr, total: {"total_iters": total}),
    "onecycle": (schedulers.OneCycleLR, lambda lr, total: {"max_lr": lr, "total_steps": total}),
}


def _keyword_names(cls: type, skip: int) -> set[str]:
    parameters = list(inspect.signature(cls).parameters.values())[skip:]
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


# What torch.optim raises for an empty parameter list, after the optimizer's own checks of its values.
_NO_PARAMETERS = "optimizer got an empty parameter list"


def check_optimizer(name: str, lr: float, weight_decay: float, options: dict[str, Any]) -> None:
    """Raise ``ValueError`` (one line) for an unknown optimizer or options it refuses.

    The optimizer is called with no parameters: torch checks its values (learning rate, betas, ...) first,
    then refuses the empty list. Building it for real on a parameter would import ``torch._dynamo``
    (seconds), in every process that reads a config, not only the one that trains.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZERS)}")
    try:
        build_optimizer(name, [], lr, weight_decay, options)
    except ValueError as error:
        if _NO_PARAMETERS not in str(error):
            raise


def build_optimizer(
    name: str,
    parameters: Iterable[nn.Parameter],
    lr: float,
    weight_decay: float,
    options: dict[str, Any],
    device_type: str = "cpu",
) -> Optimizer:
    """The optimizer ``name`` over ``parameters``.

    Optimizers with a fused kernel (Adam, AdamW, SGD, Adagrad) use it on CPU and CUDA unless ``options``
    choose ``fused`` or ``foreach`` themselves: on CPU a fused Adam step is about 3x faster.
    """
    cls = OPTIMIZERS[name]
    keywords = _keyword_names(cls, skip=1)
    allowed = keywords - {"lr", "weight_decay"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"{name} does not take {unknown}; its options are: {', '.join(sorted(allowed))}")
    kwargs = dict(options, lr=lr)
    if "fused" in keywords and not {"fused", "foreach"} & set(options) and device_type in ("cpu", "cuda"):
        kwargs["fused"] = True
    if "weight_decay" in keywords:
        kwargs["weight_decay"] = weight_decay
    elif weight_decay:
        raise ValueError(f"{name} has no weight_decay")
    try:
        return cls(parameters, **kwargs)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: {error}") from None


def check_lr_scheduler(name: str, options: dict[str, Any]) -> None:
    """Raise ``ValueError`` (one line) for an unknown scheduler or options it refuses."""
    if name not in LR_SCHEDULERS:
        raise ValueError(f"unknown lr_scheduler {name!r}; allowed: {', '.join(LR_SCHEDULERS)}")
    build_lr_scheduler(name, options, _SchedulerProbe(lr=0.1), lr=0.1, total_steps=100)


class _SchedulerProbe(Optimizer):
    """A stand-in optimizer for checking schedulers and replaying their rates: one SGD-like parameter group
    (``lr``, ``momentum``) with no parameters, and a step that does nothing. ``Optimizer.__init__`` is skipped
    because it imports ``torch._dynamo`` (seconds) in a process that may never train."""

    def __init__(self, lr: float) -> None:
        self.defaults = {"lr": lr, "momentum": 0.0}
        self.param_groups = [{"params": [], **self.defaults}]
        self.state = {}
        self._optimizer_step_pre_hooks = {}
        self._optimizer_step_post_hooks = {}

    def step(self, closure: Callable[[], float] | None = None) -> None:
        return None


def build_lr_scheduler(
    name: str, options: dict[str, Any], optimizer: Optimizer, lr: float, total_steps: int
) -> schedulers.LRScheduler | None:
    factory = LR_SCHEDULERS[name]
    if factory is None:
        if options:
            raise ValueError("lr_scheduler 'none' takes no options")
        return None
    cls, filled = factory
    fixed = filled(lr, max(total_steps, 1))
    allowed = _keyword_names(cls, skip=1) - set(fixed) - {"last_epoch", "verbose"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"lr_scheduler {name} does not take {unknown}; its options are: {', '.join(sorted(allowed))}")
    try:
        return cls(optimizer, **fixed, **options)
    except (TypeError, ValueError) as error:
        raise ValueError(f"lr_scheduler {name}: {error}") from None
    except ZeroDivisionError:  # OneCycleLR when pct_start x total steps leaves a phase without steps
        raise ValueError(
            f"lr_scheduler {name}: {max(total_steps, 1)} training steps are too few for its phases "
            f"(options {options}); train longer or choose another lr_scheduler"
        ) from None


def lr_sequence(name: str, options: dict[str, Any], lr: float, total_steps: int, steps: int) -> list[float]:
    """The learning rate of each of the first ``steps`` optimizer steps of a run ``total_steps`` long."""
    optimizer = _SchedulerProbe(lr)
    scheduler = build_lr_scheduler(name, options, optimizer, lr, total_steps)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return rates
