"""Turn samples into model text: the prompt (through the tokenizer's chat template) and the
completion (through the action grammar).

Training and evaluation both use these two functions, so a model is always asked the same way
it was taught. The prompt is a plain string made by `apply_chat_template(...,
add_generation_prompt=True)`; the completion is `grammar.render(target)` plus the end-of-turn
token. Keeping the completion out of the chat template matters: templates (Qwen3's among them)
rewrite or drop think blocks in assistant content.
"""

from __future__ import annotations

from typing import Any

from thinkact.grammar import render
from thinkact.schema import Message, Target, TurnSample


def message_to_chat(message: Message) -> dict[str, Any]:
    """One canonical message in the OpenAI / HF chat format (arguments as objects, as HF
    chat templates expect them)."""
    if message.role == "assistant" and message.tool_calls:
        return {"role": "assistant", "content": "",
                "tool_calls": [{"type": "function",
                                "function": {"name": c.name, "arguments": c.arguments}}
                               for c in message.tool_calls]}
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "tool" and message.name:
        out["name"] = message.name
    return out


def chat_messages(system: str, context: list[Message]) -> list[dict[str, Any]]:
    """System text plus the context, in chat format. Past reasoning is not shown, as Qwen3
    drops the reasoning of earlier turns."""
    head = [{"role": "system", "content": system}] if system else []
    return head + [message_to_chat(m) for m in context]


def chat_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool schemas in the `{"type": "function", "function": {...}}` form chat templates take."""
    return [t if t.get("type") == "function" and "function" in t else {"type": "function", "function": t}
            for t in tools]


def build_prompt(tokenizer: Any, sample: TurnSample) -> str:
    """The prompt text for one turn sample: system, tools and context, ending where the
    assistant's action begins."""
    return tokenizer.apply_chat_template(
        chat_messages(sample.system, sample.context), tools=chat_tools(sample.tools) or None,
        add_generation_prompt=True, tokenize=False)


def build_completion(target: Target, think: bool, eos: str) -> str:
    """The text the model should produce for `target`, closed by the end-of-turn token."""
    return render(target, think=think) + eos

