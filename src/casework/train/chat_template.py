"""The chat template used for training: the embedded server's own template with loss markers.

The embedded llama.cpp server renders conversations with ``casework/llm/templates/tool_chat.jinja``
(tool calls as ```json blocks). Training renders them with the *same* template, with
``{% generation %}…{% endgeneration %}`` around each assistant turn (its text, its tool calls and its
``<|im_end|>``), so ``return_assistant_tokens_mask`` (TRL's ``assistant_only_loss``) marks exactly
the tokens the model writes when served, and a model trained here sees at test time the prompt it
was trained on.
"""

from __future__ import annotations

_OPEN = "{{- '<|im_start|>assistant\\n' }}"
_CLOSE = "{{- '<|im_end|>\\n' }}\n    {%- elif message['role'] == 'tool' -%}"
_CLOSE_MARKED = (
    "{{- '<|im_end|>' }}{%- endgeneration -%}{{- '\\n' }}\n    {%- elif message['role'] == 'tool' -%}"
)


class TemplateError(RuntimeError):
    """The serving template changed in a way the training template cannot follow."""


def serving_chat_template() -> str:
    from casework.llm.local import tool_chat_template

    return tool_chat_template()


def training_chat_template() -> str:
    """The serving template with generation markers around every assistant turn."""
    base = serving_chat_template()
    if base.count(_CLOSE) != 1 or _OPEN not in base:
        raise TemplateError(
            "casework/llm/templates/tool_chat.jinja no longer has the assistant branch the training "
            "template marks; update casework.train.chat_template"
        )
    marked = base.replace(_OPEN, _OPEN + "{%- generation -%}", 1)
    return marked.replace(_CLOSE, _CLOSE_MARKED, 1)
