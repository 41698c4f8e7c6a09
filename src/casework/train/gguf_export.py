"""Merge a LoRA adapter into its base model and write a GGUF that llama.cpp (the embedded server) loads.

The GGUF keeps every metadata field of a *template* GGUF (by default the embedded model's: the
architecture's hyperparameters, the tokenizer's tokens, merges and special ids, and its chat
template), and takes its tensors from the merged model: names are mapped with the ``gguf`` package's
own tensor-name map (the one llama.cpp's converter uses), 2-D weights are written as ``Q8_0`` (or
``F16`` / ``F32``), 1-D tensors (norms, biases) as ``F32``. Tensors the template has and the model
lacks are refused, except a tied output matrix, which is written from the token embeddings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SKIP_FIELDS = (
    "GGUF.version",
    "GGUF.tensor_count",
    "GGUF.kv_count",
    "general.architecture",
    "general.file_type",
)
FILE_TYPES = {"Q8_0": 7, "F16": 1, "F32": 0}  # llama.cpp's LLAMA_FTYPE_MOSTLY_*


class GGUFExportError(RuntimeError):
    """The model cannot be written in the template's layout."""


def merge_adapter(adapter_dir: Path, base: str = "embedded") -> tuple[Any, Any]:
    """``(merged model, tokenizer)``: the base model with the LoRA adapter in ``adapter_dir`` folded in."""
    from peft import PeftModel

    from casework.train.models import load_base

    if not (adapter_dir / "adapter_config.json").exists():
        raise GGUFExportError(
            f"{adapter_dir}: no adapter_config.json (the final/ folder of `casework train`)"
        )
    model, tokenizer = load_base(base)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    return merged, tokenizer


def _field_value(field: Any) -> Any:
    return field.contents()


def write_gguf(model: Any, out: Path, template: Path | None = None, qtype: str = "Q8_0") -> dict[str, Any]:
    """Write ``model`` (a transformers causal LM) to ``out``; returns what was written."""
    import gguf
    import numpy as np

    if qtype not in FILE_TYPES:
        raise GGUFExportError(f"--type {qtype!r}: expected one of {', '.join(FILE_TYPES)}")
    config = model.config
    arch_name = getattr(config, "model_type", "")
    try:
        arch = next(a for a, name in gguf.MODEL_ARCH_NAMES.items() if name == arch_name)
    except StopIteration:
        raise GGUFExportError(f"model type {arch_name!r} has no GGUF architecture") from None
    n_blocks = config.num_hidden_layers
    name_map = gguf.get_tensor_name_map(arch, n_blocks)
    state = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
    tensors: dict[str, Any] = {}
    for hf_name, value in state.items():
        name = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise GGUFExportError(f"no GGUF name for tensor {hf_name!r}")
        tensors[name] = value

    writer = gguf.GGUFWriter(str(out), arch_name)
    expected: list[str] = list(tensors)
    if template is not None:
        reader = gguf.GGUFReader(str(template))
        if _field_value(reader.fields["general.architecture"]) != arch_name:
            raise GGUFExportError(f"{template}: architecture differs from the model's ({arch_name})")
        for key, field in reader.fields.items():
            if key in SKIP_FIELDS:
                continue
            sub_type = field.types[1] if len(field.types) > 1 else None
            writer.add_key_value(key, _field_value(field), field.types[0], sub_type=sub_type)
        expected = [t.name for t in reader.tensors]
        if "output.weight" in expected and "output.weight" not in tensors:
            tensors["output.weight"] = tensors["token_embd.weight"]  # tied embeddings
        missing = [n for n in expected if n not in tensors]
        if missing:
            raise GGUFExportError(f"{template} has tensors the model lacks: {', '.join(missing[:5])}")
    else:
        writer.add_block_count(n_blocks)
        writer.add_context_length(config.max_position_embeddings)
        writer.add_embedding_length(config.hidden_size)
        writer.add_feed_forward_length(config.intermediate_size)
        writer.add_head_count(config.num_attention_heads)
        writer.add_head_count_kv(config.num_key_value_heads)
        writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_file_type(FILE_TYPES[qtype])
    written = {}
    for name in expected:
        value = tensors[name]
        if value.ndim >= 2 and qtype == "Q8_0" and value.shape[-1] % 32 == 0:
            data = gguf.quants.quantize(value.astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(name, data, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
            written[name] = "Q8_0"
        elif value.ndim >= 2 and qtype != "F32":
            writer.add_tensor(name, value.astype(np.float16))
            written[name] = "F16"
        else:
            writer.add_tensor(name, value.astype(np.float32))
            written[name] = "F32"
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {
        "path": str(out),
        "tensors": len(written),
        "types": sorted(set(written.values())),
        "bytes": out.stat().st_size,
    }
