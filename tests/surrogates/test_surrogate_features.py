"""Feature encoders: generic space encoder and NAS-Bench-201 cell features."""

import numpy as np

from moo_nas.spaces import make_space
from surrogates.features import NB201_OPS, SpaceEncoder, nb201_feature_names, nb201_features


def test_space_encoder_summary_sees_through_inactive_variables():
    space = make_space("digits-cnn", (1, 8, 8), 10)
    enc = SpaceEncoder(space)
    a = space.make({"depth": 1, "c1": 8, "k1": 3, "c2": 8, "k2": 1, "c3": 8, "k3": 1})
    b = space.make({"depth": 1, "c1": 8, "k1": 3, "c2": 48, "k2": 5, "c3": 64, "k3": 5})
    c = space.make({"depth": 2, "c1": 8, "k1": 3, "c2": 48, "k2": 5, "c3": 64, "k3": 5})
    X = enc.encode([a, b, c])
    assert X.shape == (3, len(enc.names()))
    summary = slice(len(space.variables), None)
    assert np.array_equal(X[0, summary], X[1, summary])
    assert X[2, enc.names().index("log_params")] > X[1, enc.names().index("log_params")]
    assert X[2, enc.names().index("n_conv")] == 2


def test_nb201_cell_features():
    none = NB201_OPS.index("none")
    conv3 = NB201_OPS.index("nor_conv_3x3")
    dead = nb201_features([none] * 6)
    full = nb201_features([conv3] * 6)
    names = nb201_feature_names()
    assert len(dead) == len(full) == len(names)
    assert dead[names.index("input_connected")] == 0 and dead[names.index("live_paths")] == 0
    assert full[names.index("live_paths")] == 4
    assert full[names.index("longest_conv_path")] == 3
    # only edge 3 (input -> output) alive: one path of one convolution
    only = nb201_features([none, none, none, conv3, none, none])
    assert only[names.index("live_paths")] == 1 and only[names.index("convs_on_live_paths")] == 1
