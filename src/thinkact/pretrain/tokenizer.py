"""The quickstart tokenizer: a small byte-level BPE fitted to the bundled domains' text.

Two choices make copying easy for a tiny model:
- Merges happen only inside plain words: a run of lowercase letters, after at most one capital,
  that no other letter or digit touches. Spaces, digits, capitals and punctuation are one token
  each, and so is every letter of a mixed identifier ("jVek0CHt", "sa7udl", "W2378156"): an
  identifier tokenizes the same in user text and inside JSON (no leading-space merges), and
  copying it is copying characters, never a rare merged piece like "ek" that a small model's
  prior would overrule.
- The grammar tags are added tokens that are *not* special: TRL decodes completions with
  `skip_special_tokens=True`, and a reward must still see `<tool_call>`.
"""

from __future__ import annotations

from typing import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from thinkact.grammar import GRAMMAR_TAGS

PAD, BOS, EOS = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (PAD, BOS, EOS)

# A plain word's lowercase run is one pre-token (BPE merges inside it): not touching another
# letter or digit, or following a single capital ("Hello" -> "H", "ello"). Every other
# character stands alone.
_END = r"(?![A-Za-z0-9])"
PRETOKEN_PATTERN = (rf"(?<![A-Za-z0-9])[a-z]+{_END}"
                    rf"|(?<=[A-Z])(?<![A-Za-z0-9][A-Z])[a-z]+{_END}"
                    r"|.")

# ChatML with a compact tool list and Qwen3's tool-call and tool-response framing. A tool is
# one JSON line, its parameters reduced to name -> type (or the list of allowed values): the
# full JSON schemas would triple the prompt, and prompt length is the main cost of training. `tojson` is json.dumps with its default
# separators, so a rendered call matches thinkact.grammar.render_call byte for byte. Earlier
# actions follow an empty think block, as Qwen3 renders a turn without reasoning, so the prompt
# of turn k+1 begins with turn k's prompt and (think-block) completion.
CHAT_TEMPLATE = (
    "{%- set msgs = messages -%}"
    "{%- set system = '' -%}"
    "{%- if msgs and msgs[0].role == 'system' -%}"
    "{%- set system = msgs[0].content -%}{%- set msgs = msgs[1:] -%}"
    "{%- endif -%}"
    "{%- if system or tools -%}"
    "{{- '<|im_start|>system\\n' + system -}}"
    "{%- if tools -%}"
    "{{- ('\\n\\n' if system else '') + 'Tools:' -}}"
    "{%- for tool in tools -%}"
    "{%- set f = tool.function if tool.function is defined else tool -%}"
    "{{- '\\n{\"name\": ' + (f.name | tojson) + ', \"description\": '"
    " + (f.description | default('') | tojson) + ', \"parameters\": {' -}}"
    "{%- set props = f.parameters.properties if f.parameters is defined and f.parameters.properties is defined else {} -%}"
    "{%- for k, v in props.items() -%}"
    "{{- (', ' if not loop.first else '') + (k | tojson) + ': '"
    " + ((v.enum if v.enum is defined else v.type | default('any')) | tojson) -}}"
    "{%- endfor -%}"
    "{{- '}}' -}}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- for m in msgs -%}"
    "{%- if m.role == 'tool' -%}"
    "{%- if loop.first or msgs[loop.index0 - 1].role != 'tool' -%}{{- '<|im_start|>user' -}}{%- endif -%}"
    "{{- '\\n<tool_response>\\n' + (m.content or '') + '\\n</tool_response>' -}}"
    "{%- if loop.last or msgs[loop.index0 + 1].role != 'tool' -%}{{- '<|im_end|>\\n' -}}{%- endif -%}"
    "{%- elif m.role == 'assistant' -%}"
    "{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' -}}"
    "{%- if m.tool_calls -%}"
    "{%- for tc in m.tool_calls -%}"
    "{%- set c = tc.function if tc.function is defined else tc -%}"
    "{%- if not loop.first -%}{{- '\\n' -}}{%- endif -%}"
    "{%- if c.arguments is string -%}"
    "{{- '<tool_call>\\n{\"name\": ' + (c.name | tojson) + ', \"arguments\": ' + c.arguments"
    " + '}\\n</tool_call>' -}}"
    "{%- else -%}"
    "{{- '<tool_call>\\n' + ({'name': c.name, 'arguments': c.arguments} | tojson)"
    " + '\\n</tool_call>' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- else -%}{{- m.content or '' -}}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + m.role + '\\n' + (m.content or '') + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1536) -> PreTrainedTokenizerFast:
    """Fit the BPE on `texts` and wrap it with the special tokens, tags and chat template."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKEN_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2)
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=None, eos_token=EOS, pad_token=PAD,
        model_max_length=2048, chat_template=CHAT_TEMPLATE)
    fast.add_tokens(list(GRAMMAR_TAGS), special_tokens=False)
    return fast


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, out_dir) -> None:
    """Save with the chat template inside tokenizer_config.json (one file to read)."""
    tokenizer.save_pretrained(str(out_dir), save_jinja_files=False)
