"""MLPerf Tiny reference networks (and a 1-D CNN) written as ordinary torch modules, as a user
would write them; layer lists follow the MLPerf Tiny reference definitions."""

import torch
import torch.nn as nn


def conv_bn(cin, cout, k, stride=1, groups=1, act=True, dims=2):
    conv = (nn.Conv2d if dims == 2 else nn.Conv1d)(cin, cout, k, stride, padding=k // 2 if isinstance(k, int) else tuple(x // 2 for x in k), groups=groups, bias=False)
    bn = (nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d)(cout)
    return nn.Sequential(conv, bn, nn.ReLU()) if act else nn.Sequential(conv, bn)


class ResStack(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = conv_bn(cin, cout, 3, stride)
        self.b = conv_bn(cout, cout, 3, act=False)
        self.short = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        s = x if self.short is None else self.short(x)
        return torch.relu(self.b(self.a(x)) + s)


class ResNet8(nn.Module):
    """MLPerf Tiny IC: 32x32x3, 16-32-64, 10 classes."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 16, 3)
        self.s1 = ResStack(16, 16, 1)
        self.s2 = ResStack(16, 32, 2)
        self.s3 = ResStack(32, 64, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.s3(self.s2(self.s1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class DSCNN(nn.Module):
    """MLPerf Tiny KWS: 49x10 MFCC, conv 10x4/2 (64), 4 DS blocks, 12 classes."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 64, (10, 4), 2, padding=(5, 1), bias=False),
                                  nn.BatchNorm2d(64), nn.ReLU())
        self.blocks = nn.Sequential(*[nn.Sequential(conv_bn(64, 64, 3, groups=64),
                                                    conv_bn(64, 64, 1)) for _ in range(4)])
        self.drop = nn.Dropout(0.4)
        self.fc = nn.Linear(64, 12)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(self.drop(x.mean([2, 3])))


class MobileNetV1(nn.Module):
    """MLPerf Tiny VWW: MobileNetV1 x0.25 on 96x96x3, 2 classes."""

    def __init__(self):
        super().__init__()
        cfg = [(8, 16, 1), (16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2)] + \
              [(128, 128, 1)] * 5 + [(128, 256, 2), (256, 256, 1)]
        layers = [conv_bn(3, 8, 3, 2)]
        for cin, cout, s in cfg:
            layers += [conv_bn(cin, cin, 3, s, groups=cin), conv_bn(cin, cout, 1)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AvgPool2d(3)
        self.fc = nn.Linear(256, 2)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).view(x.size(0), -1))


class AutoEncoder(nn.Module):
    """MLPerf Tiny AD: FC auto-encoder 640-128x4-8-128x4-640."""

    def __init__(self):
        super().__init__()
        dims = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128]
        layers = []
        for a, b in zip(dims, dims[1:]):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
        layers.append(nn.Linear(128, 640))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class TemporalCNN(nn.Module):
    """A 1-D CNN for 6x100 sensor series (BasicMotions-sized), 4 classes, with a concat."""

    def __init__(self, channels=6, classes=4):
        super().__init__()
        self.a = conv_bn(channels, 32, 7, dims=1)
        self.b = conv_bn(32, 32, 5, dims=1)
        self.c = conv_bn(32, 32, 3, dims=1)
        self.pool = nn.MaxPool1d(2)
        self.d = conv_bn(64, 64, 3, 2, dims=1)
        self.fc = nn.Linear(64 * 25, classes)

    def forward(self, x):
        x = self.a(x)
        y = self.b(x)
        x = self.pool(torch.cat([y, self.c(y) + y], dim=1))
        return self.fc(self.d(x).flatten(1))
