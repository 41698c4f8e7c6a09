"""Base models for training: a tiny random model (tests, smoke runs), the embedded GGUF, or a HF model.

``--base tiny`` builds a two-layer Qwen2 with random weights from a config and a byte-level BPE
tokenizer trained on the dataset's own text with the ``tokenizers`` library (the way TRL's tests use
tiny models; nothing is downloaded). ``--base embedded`` reads the embedded Qwen2.5-Coder-0.5B GGUF
with transformers' GGUF loader (dequantised to float32; about 52 s and 3.8 GB RSS). Anything else is
passed to ``from_pretrained`` (a local directory or a hub id when the hub is reachable).

Imports torch and transformers: only the ``casework train`` commands load this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from casework.train.chat_template import training_chat_template

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def tiny_tokenizer(corpus: Iterable[str], vocab_size: int = 8192) -> Any:
    """A byte-level BPE tokenizer with ChatML special tokens, trained on ``corpus`` (seconds).

    Merges may cross word boundaries (no pre-tokenizing regex), so the texts every example repeats
    (the policy, the tool schemas) shrink to few tokens and a tiny model trains on short sequences."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(sorted(set(corpus)), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None
    )
    fast.chat_template = training_chat_template()
    return fast


def tiny_model(tokenizer: Any, seed: int = 0, hidden: int = 32) -> Any:
    """A randomly initialised two-layer Qwen2 sized for ``tokenizer``."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def embedded_paths() -> tuple[Path, str]:
    from casework.llm.local import ensure_local_model

    path = ensure_local_model()
    return path.parent, path.name


def load_gguf_dense(path: Path) -> Any:
    """A GGUF file as a plain float32 transformers model (every weight dequantised), trainable.

    transformers keeps GGUF weights packed by default and refuses to train such a model; with
    ``GgufConfig(dequantize=True)`` the weights are ordinary dense tensors, so the quantizer handle
    is dropped and the model is what ``from_config`` + the weights would give.
    """
    import torch
    from transformers import AutoModelForCausalLM, GgufConfig

    model = AutoModelForCausalLM.from_pretrained(
        str(path.parent),
        gguf_file=path.name,
        dtype=torch.float32,
        quantization_config=GgufConfig(dequantize=True),
    )
    model.hf_quantizer = None
    model.is_quantized = False
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    return model


def load_base(base: str, corpus: Iterable[str] | None = None, seed: int = 0) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for ``base`` (``tiny``, ``embedded``, or a ``from_pretrained`` name)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if base == "tiny":
        tokenizer = tiny_tokenizer(corpus or [])
        return tiny_model(tokenizer, seed=seed), tokenizer
    if base == "embedded":
        directory, name = embedded_paths()
        tokenizer = AutoTokenizer.from_pretrained(str(directory), gguf_file=name)
        model = load_gguf_dense(directory / name)
    else:
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = AutoModelForCausalLM.from_pretrained(base, dtype="auto")
    if "<|im_start|>" in tokenizer.get_vocab():  # ChatML: train with the template the embedded server uses
        tokenizer.chat_template = training_chat_template()
        tokenizer.eos_token = "<|im_end|>"
        model.generation_config.eos_token_id = tokenizer.eos_token_id
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
