"""Number-format emulation: exact against torch's casts and an independent numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moo_nas.errors import UserError
from moo_nas.formats import (_round_arith, _round_bits, _round_magic, format_bits, get_format, round_to_float,
                             round_to_int)


def as_bits(t: torch.Tensor) -> np.ndarray:
    return t.contiguous().view(torch.int32).numpy().copy()


def random_float32(n: int, seed: int) -> torch.Tensor:
    """Random bit patterns (every exponent, subnormals, inf, NaN) plus Gaussian values at
    several scales around the fp16 range limits."""
    g = torch.Generator().manual_seed(seed)
    bits = torch.randint(-(2**31), 2**31 - 1, (n,), generator=g, dtype=torch.int64)
    patterns = bits.to(torch.int32).view(torch.float32)
    scales = torch.tensor([1e-7, 6e-5, 1e-3, 1.0, 3e2, 6e4, 7e4])
    gauss = (torch.randn(len(scales), n // 4, generator=g) * scales[:, None]).flatten()
    return torch.cat([patterns, gauss])


def assert_same_bits(a: torch.Tensor, b: torch.Tensor) -> None:
    nan = torch.isnan(b)
    assert torch.equal(torch.isnan(a), nan)
    np.testing.assert_array_equal(as_bits(a[~nan]), as_bits(b[~nan]))


# --------------------------------------------------------------------------- torch casts
@pytest.mark.parametrize("name,dtype", [("fp16", torch.float16), ("bf16", torch.bfloat16)])
def test_fp16_bf16_quantize_matches_torch_cast(name, dtype):
    x = random_float32(40_000, seed=1)
    fmt = get_format(name)
    assert_same_bits(fmt.quantize(x), x.to(dtype).to(torch.float32))


@pytest.mark.parametrize("e,m,dtype", [(5, 10, torch.float16), (8, 7, torch.bfloat16),
                                       (5, 2, torch.float8_e5m2)])
def test_generic_rounding_matches_torch_cast(e, m, dtype):
    # the generic eXmY path, not the native cast, reproduces the IEEE types torch has
    x = random_float32(40_000, seed=2)
    assert_same_bits(round_to_float(x, e, m), x.to(dtype).to(torch.float32))
    assert_same_bits(get_format(f"e{e}m{m}").quantize(x), x.to(dtype).to(torch.float32))


def test_two_algorithms_agree_on_every_small_format():
    x = random_float32(8_000, seed=3)
    for e in range(2, 8):
        for m in range(0, 23):
            assert_same_bits(_round_magic(x, e, m), _round_bits(x, e, m))


def test_export_path_agrees_up_to_the_sign_of_zero():
    x = random_float32(8_000, seed=6)
    for e, m in [(5, 2), (4, 3), (5, 6), (8, 3), (2, 1), (7, 20)]:
        a, b = _round_arith(x, e, m), _round_bits(x, e, m)
        assert torch.equal(torch.isnan(a), torch.isnan(b))
        ok = ~torch.isnan(b)
        assert torch.equal(a[ok], b[ok])  # == treats -0 and +0 alike


def test_custom_format_model_exports_to_onnx_with_the_same_outputs(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from moo_nas.hardware.onnx_runtime import export_onnx
    from moo_nas.spaces import make_space

    space = make_space("digits-cnn", (1, 8, 8), 10, formats=["e4m3", "e5m6", "fp32"])
    g = space.make({**space.seed_genotype().to_dict(),
                    **{v.name: "e4m3" for v in space.variables if v.name.startswith("fmt")}})
    torch.manual_seed(0)
    module = space.build(g).eval()
    path = export_onnx(module, (1, 8, 8), tmp_path / "m.onnx", batch=4)
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        want = module(x).numpy()
    got = ort.InferenceSession(str(path)).run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- numpy reference
def numpy_reference(values: np.ndarray, e: int, m: int) -> np.ndarray:
    """Correct rounding written from the IEEE definition in float64: quantum 2**(E - m) with
    E = max(floor(log2|v|), emin), round half to even (np.rint), overflow to inf."""
    v = np.asarray(values, dtype=np.float64)
    bias = 2 ** (e - 1) - 1
    emin, emax = 1 - bias, (2**e - 2) - bias
    max_finite = (2 - 2.0**-m) * 2.0**emax
    out = np.empty_like(v)
    for i, val in enumerate(v):
        if np.isnan(val):
            out[i] = np.nan
            continue
        a = abs(val)
        if np.isinf(a):
            r = np.inf
        elif a == 0:
            r = 0.0
        else:
            _, exp = np.frexp(a)  # a = frac * 2**exp, frac in [0.5, 1)
            quantum = 2.0 ** (max(int(exp) - 1, emin) - m)
            r = np.rint(a / quantum) * quantum
            if r > max_finite:
                r = np.inf
        out[i] = np.copysign(r, val)
    return out.astype(np.float32)


def edge_cases(e: int, m: int) -> np.ndarray:
    bias = 2 ** (e - 1) - 1
    emin, emax = 1 - bias, (2**e - 2) - bias
    max_finite = (2 - 2.0**-m) * 2.0**emax
    ulp_max = 2.0 ** (emax - m)
    min_normal = 2.0**emin
    min_sub = 2.0 ** (emin - m)
    f32 = np.float32
    vals = [
        max_finite, max_finite + ulp_max / 2,                      # max; tie above max -> inf
        np.nextafter(f32(max_finite + ulp_max / 2), f32(0)),       # just below the tie -> max
        max_finite + ulp_max / 4, 2.0 ** (emax + 1), 1e38,
        min_normal, np.nextafter(f32(min_normal), f32(0)),         # min normal; just below
        min_normal - min_sub / 2,                                  # tie between sub and normal
        min_sub, min_sub / 2, min_sub * 1.5, min_sub * 2.5,        # ties at subnormal spacing
        np.nextafter(f32(min_sub / 2), f32(1)), min_sub / 4, 1e-45,
        1.0, 1.0 + 2.0**-m / 2, 1.0 + 3 * 2.0**-m / 2,             # ties to even at 1
        np.nextafter(f32(1.0 + 2.0**-m / 2), f32(2)), 3.0, 0.1, 0.0,
    ]
    with np.errstate(over="ignore"):
        vals = [v for v in vals if np.isfinite(f32(v))]
    arr = np.array(vals, dtype=np.float32)
    return np.concatenate([arr, -arr, np.array([np.inf, -np.inf, np.nan], dtype=np.float32)])


@pytest.mark.parametrize("e,m", [(5, 2), (4, 3), (5, 6), (4, 5), (3, 2), (2, 1), (6, 9),
                                 (7, 15), (8, 3), (5, 0), (4, 22), (3, 23)])
def test_custom_formats_match_numpy_reference_on_edge_cases(e, m):
    vals = edge_cases(e, m)
    got = round_to_float(torch.from_numpy(vals), e, m)
    want = torch.from_numpy(numpy_reference(vals, e, m))
    assert_same_bits(got, want)
    # and on random values around the format's own range
    rng = np.random.default_rng(e * 100 + m)
    emax = 2 ** (e - 1) - 1
    with np.errstate(over="ignore"):
        scale = np.exp2(rng.uniform(-emax - m - 2, emax + 1.5, 3000)).astype(np.float32)
    rand = (scale * rng.choice([-1, 1], 3000)).astype(np.float32)
    assert_same_bits(round_to_float(torch.from_numpy(rand), e, m),
                     torch.from_numpy(numpy_reference(rand, e, m)))


def test_known_values_of_named_formats():
    assert get_format("e4m3").max_finite == 240.0
    assert get_format("e5m2").max_finite == 57344.0
    assert get_format("fp16").max_finite == 65504.0
    x = torch.tensor([240.0, 247.9, 248.0, 1.0625, 1.1875, 2.0**-9, 2.0**-10, -0.0])
    got = get_format("e4m3").quantize(x)
    want = torch.tensor([240.0, 240.0, float("inf"), 1.0, 1.25, 2.0**-9, 0.0, -0.0])
    assert_same_bits(got, want)
    assert [format_bits(n) for n in ("fp32", "fp16", "bf16", "e5m6", "int4")] == [32, 16, 16, 12, 4]


# --------------------------------------------------------------------------- integers
def numpy_int_reference(w: np.ndarray, bits: int) -> np.ndarray:
    levels = 2 ** (bits - 1) - 1
    out = np.empty_like(w)
    for c in range(w.shape[0]):
        amax = np.abs(w[c]).max()
        if amax == 0:
            out[c] = 0
            continue
        s = np.float32(amax) / np.float32(levels)
        out[c] = np.clip(np.rint(w[c] / s), -levels, levels) * s
    return out


@pytest.mark.parametrize("name,bits", [("int8", 8), ("int4", 4)])
def test_int_per_channel_symmetric(name, bits):
    g = torch.Generator().manual_seed(4)
    w = torch.randn(6, 3, 3, 3, generator=g) * torch.tensor([1e-3, 0.1, 1, 5, 0, 30])[:, None, None, None]
    q = get_format(name).quantize(w, per_channel=True)
    np.testing.assert_allclose(q.numpy(), numpy_int_reference(w.numpy(), bits), rtol=1e-6, atol=0)
    levels = 2 ** (bits - 1) - 1
    for c in range(6):
        amax = float(w[c].abs().max())
        if amax == 0:
            assert torch.all(q[c] == 0)
            continue
        codes = q[c] / (amax / levels)
        assert torch.allclose(codes, codes.round(), atol=1e-4)
        assert len(torch.unique(codes.round())) <= 2 * levels + 1
        assert float(q[c].abs().max()) == pytest.approx(amax, rel=1e-6)  # extreme maps to +-L
        assert float((q[c] - w[c]).abs().max()) <= amax / levels / 2 * (1 + 1e-5)
    # per tensor: one scale for everything, so the small channels collapse to zero at int4
    qt = round_to_int(w, bits, per_channel=False)
    assert float(qt.abs().max()) == pytest.approx(float(w.abs().max()), rel=1e-6)
    if bits == 4:
        assert torch.all(qt[0] == 0) and not torch.all(q[0] == 0)


# --------------------------------------------------------------------------- gradient
@pytest.mark.parametrize("name", ["fp16", "bf16", "e4m3", "e5m6", "int8", "int4"])
def test_straight_through_gradient_and_exact_forward(name):
    fmt = get_format(name)
    x = (torch.randn(4, 5, generator=torch.Generator().manual_seed(5)) * 3).requires_grad_()
    y = fmt.quantize(x, per_channel=True)
    assert torch.equal(y.detach(), fmt.round(x.detach(), per_channel=True))
    (y * torch.arange(20.0).view(4, 5)).sum().backward()
    assert torch.equal(x.grad, torch.arange(20.0).view(4, 5))


def test_fp32_is_identity_and_bad_names_are_user_errors():
    x = torch.randn(3, requires_grad=True)
    assert get_format("fp32").quantize(x) is x
    for bad in ("fp8", "e9m2", "e1m3", "e5m24", "int"):
        with pytest.raises(UserError):
            get_format(bad)
