"""Writing a GGUF from a trained model: the template's metadata kept, the model's weights written."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
gguf = pytest.importorskip("gguf")

from casework.train.gguf_export import GGUFExportError, write_gguf  # noqa: E402
from casework.train.models import tiny_model, tiny_tokenizer  # noqa: E402


def test_a_trained_model_is_written_in_the_templates_layout(tmp_path: Path):
    import numpy as np

    tokenizer = tiny_tokenizer(["hello world", '{"name": "tool", "arguments": {}}'], vocab_size=300)
    model = tiny_model(tokenizer)
    template = tmp_path / "template.gguf"
    first = write_gguf(model, template)
    assert first["types"] == ["F32", "Q8_0"]
    with torch.no_grad():  # "training"
        for p in model.parameters():
            p.add_(0.05)
    out = tmp_path / "trained.gguf"
    written = write_gguf(model, out, template=template)
    before, after = gguf.GGUFReader(str(template)), gguf.GGUFReader(str(out))
    keep = [k for k in before.fields if not k.startswith("GGUF.")]
    assert [k for k in after.fields if not k.startswith("GGUF.")] == keep
    for key in keep:
        assert after.fields[key].contents() == before.fields[key].contents(), key
    assert [t.name for t in after.tensors] == [t.name for t in before.tensors]
    assert written["tensors"] == len(after.tensors)
    tensors = {t.name: t for t in after.tensors}
    q = tensors["blk.1.ffn_down.weight"]
    assert q.tensor_type == gguf.GGMLQuantizationType.Q8_0
    want = model.model.layers[1].mlp.down_proj.weight.detach().numpy()
    got = gguf.quants.dequantize(q.data, q.tensor_type)
    assert got.shape == want.shape and np.abs(got - want).max() < 0.01
    norm = tensors["blk.0.attn_norm.weight"]
    assert norm.tensor_type == gguf.GGMLQuantizationType.F32
    assert np.allclose(norm.data, model.model.layers[0].input_layernorm.weight.detach().numpy())


def test_a_model_that_does_not_fit_the_template_is_refused(tmp_path: Path):
    small = tiny_tokenizer(["a b c"], vocab_size=300)
    template = tmp_path / "t.gguf"
    write_gguf(tiny_model(small), template)
    other = tiny_model(small)
    other.config.model_type = "gpt_neox_unknown"
    with pytest.raises(GGUFExportError, match="no GGUF architecture"):
        write_gguf(other, tmp_path / "x.gguf", template=template)
    with pytest.raises(GGUFExportError, match="--type 'Q4_K'"):
        write_gguf(tiny_model(small), tmp_path / "y.gguf", qtype="Q4_K")
