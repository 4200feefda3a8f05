"""The training objective: the model's named loss terms, weighted by name and annealed by kind.

    loss = sum_k w_k * b_k(t) * L_k,   b_k(t) = beta(t) for the annealed terms, 1 otherwise,

over the terms the model declares (:meth:`remvae.core.model.ModelConfig.terms`), each L_k the batch
mean the model's forward pass returns. Optional terms are computed only when their weight is positive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Collection, Mapping

from torch import Tensor

from remvae.core.model import MultimodalModel, TermKind, resolve_weights

Schedule = Callable[[int, int], float]


@dataclass(frozen=True)
class Objective:
    """A weight for every term of the model (declared order), the schedule beta(t) and the terms it scales."""

    weights: dict[str, float]
    schedule: Schedule
    annealed: frozenset[str]

    @classmethod
    def for_model(
        cls, model: MultimodalModel, weights: Mapping[str, float], schedule: Schedule, kinds: Collection[TermKind]
    ) -> Objective:
        """The objective of ``model`` with the given weights (others default), annealing the terms of ``kinds``."""
        resolved = resolve_weights(model.terms, weights)
        return cls(resolved, schedule, frozenset(term.name for term in model.terms if term.kind in kinds))

    @property
    def wanted(self) -> frozenset[str]:
        """The terms with a positive weight: the optional ones among them are the ones computed."""
        return frozenset(name for name, weight in self.weights.items() if weight > 0)

    def beta(self, step: int, total_steps: int) -> float:
        return float(self.schedule(step, total_steps))

    def loss(self, terms: Mapping[str, Tensor], beta: float) -> Tensor:
        total = sum(
            value * (self.weights[name] * (beta if name in self.annealed else 1.0)) for name, value in terms.items()
        )
        return total  # type: ignore[return-value]
