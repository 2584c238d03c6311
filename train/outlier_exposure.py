"""Outlier exposure: OTHER frames teach the 8 view outputs to be unsure, with no 9th class.

A 9th ``OTHER`` class (``data.other: true``) learns what the simulator's non-standard cines
look like, and on real echo it also swallows real views that look unlike the simulator. With
``data.other: exposure`` the OTHER frames instead pull the 8 outputs towards the uniform
distribution (Hendrycks, Mazeika and Dietterich, "Deep anomaly detection with outlier
exposure", ICLR 2019), so the runtime's max-softmax score (``echostream calibrate --unknown``
sets its threshold) is low on anything unlike the 8 views.

Example::

    >>> import torch
    >>> loss = OutlierExposureLoss(n_known=8, weight=0.5)
    >>> logits = torch.zeros(2, 8)
    >>> round(float(loss(logits, torch.tensor([0, 8]))), 4)  # log 8 + 0.5 · log 8
    3.1192
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class OutlierExposureLoss(nn.Module):
    """Cross-entropy on frames of the ``n_known`` views (labels below ``n_known``) plus
    ``weight`` × the cross-entropy between the uniform distribution and the softmax on OTHER
    frames (label ``n_known``); each term is its frames' mean, absent when a batch has none."""

    def __init__(
        self,
        n_known: int,
        weight: float,
        *,
        class_weight: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.n_known, self.weight = n_known, weight
        self.known_loss = nn.CrossEntropyLoss(weight=class_weight, label_smoothing=label_smoothing)

    def forward(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        known = y < self.n_known
        loss = logits.new_zeros(())
        if bool(known.any()):
            loss = loss + self.known_loss(logits[known], y[known])
        if bool((~known).any()):
            uniform_ce = -F.log_softmax(logits[~known], dim=1).mean(dim=1)
            loss = loss + self.weight * uniform_ce.mean()
        return loss
