"""LLM access: endpoint config, the async chat client, output parsing and the embedded local model
(``casework.llm.local``, needs ``pip install 'casework[local]'``)."""

from .client import LLMClient, MalformedResponse
from .config import ConfigError, EndpointConfig, ModelsConfig, PriceTable, load_models_config, resolve
from .parsing import clean_model_text, parse_text_tool_calls, split_reasoning
from .types import (
    CallRecord,
    Completion,
    LLMError,
    LLMOutputError,
    LLMRequestError,
    LLMUnavailable,
    ToolCall,
)

__all__ = [
    "CallRecord",
    "Completion",
    "ConfigError",
    "EndpointConfig",
    "LLMClient",
    "LLMError",
    "LLMOutputError",
    "LLMRequestError",
    "LLMUnavailable",
    "MalformedResponse",
    "ModelsConfig",
    "PriceTable",
    "ToolCall",
    "clean_model_text",
    "load_models_config",
    "parse_text_tool_calls",
    "resolve",
    "split_reasoning",
]
