"""The advice in a finding fits the finding: a smaller element type is suggested only
where the result's own dtype has one (never "float32 instead of float64" for a tensor
that is float32 already)."""
import pytest

from oomguard import predict

N = 60_000  # N x N is 13-27 GiB: a finding whatever the dtype


def suggestion(source):
    findings = [f for f in predict(source, {}, ram_available=1 << 30) if f.line == 2]
    assert findings, source
    return findings[0].suggestion


@pytest.mark.parametrize("dtype, says, never", [
    ("", "float16 or bfloat16 instead of float32", "instead of float64"),  # torch: float32
    (", dtype=torch.float64", "float32 or float16 instead of float64", "bfloat16"),
    (", dtype=torch.float16", "a smaller size, or build it in chunks", "instead of float"),
])
def test_torch_constructor_advice_fits_its_dtype(dtype, says, never):
    text = suggestion(f"import torch\nx = torch.zeros({N}, {N}{dtype})")
    assert says in text and never not in text, text


def test_numpy_default_float64_is_told_of_float32():
    text = suggestion(f"import numpy as np\nx = np.ones(({N}, {N}))")
    assert "float32 or float16 instead of float64" in text, text
    text = suggestion(f"import numpy as np\nx = np.ones(({N}, {N}), dtype=np.int8)")
    assert "instead of float" not in text, text
