"""A user-written seed network for ``moo-nas search --seed-model examples/byo_model.py:SmallNet``.

Ordinary PyTorch, nothing imported from moo_nas: moo_nas traces it with ``torch.fx`` and derives
a search space by subtraction from it (channels, kernels, removable blocks, number formats).
Made for 8x8 digits (``--input-shape 1,8,8``) and 28x28 Fashion-MNIST (``1,28,28``).
"""

import torch
import torch.nn as nn


class Residual(nn.Module):
    """Two 3x3 convolutions with a residual join (removable as a whole: same shape in and out)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + x)


class SmallNet(nn.Module):
    """conv 5x5 (32) -> residual block -> depthwise-separable conv /2 (64) -> pool -> linear."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 32, 5, padding=2, bias=False), nn.BatchNorm2d(32),
                                  nn.ReLU())
        self.block = Residual(32)
        self.dw = nn.Sequential(nn.Conv2d(32, 32, 3, stride=2, padding=1, groups=32, bias=False),
                                nn.BatchNorm2d(32), nn.ReLU())
        self.pw = nn.Sequential(nn.Conv2d(32, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(64, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pw(self.dw(self.block(self.stem(x)))))


def small_net() -> nn.Module:
    """Factory form (``--seed-model examples/byo_model.py:small_net``)."""
    return SmallNet(10)


class TemporalNet(nn.Module):
    """A 1-D seed for 6x100 sensor series (``--task basic-motions --input-shape 6,100``)."""

    def __init__(self, channels: int = 6, num_classes: int = 4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(channels, 32, 7, padding=3, bias=False), nn.BatchNorm1d(32), nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(32, 32, 5, padding=2, bias=False), nn.BatchNorm1d(32), nn.ReLU(),
            nn.Conv1d(32, 64, 3, stride=2, padding=1, bias=False), nn.BatchNorm1d(64), nn.ReLU())
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=2))
