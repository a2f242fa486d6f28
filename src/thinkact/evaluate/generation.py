"""Generation back-ends: turn samples in, raw action text in our grammar out.

Every back-end has the same method, `generate(samples, advance=None) -> list[str]`, returning one
output per sample in the samples' order (`advance(n)` is called as outputs complete, for a
progress bar). Outputs are what the model wrote after the prompt, eos stripped, grammar tags
kept, so `grammar.parse` and the rewards read them exactly as they read training targets.

- `HFGenerator`: transformers, batched greedy decoding with a KV cache: the shared prompt
  prefix computed once, prompts sorted by length so batches pad little, left padding with
  position ids from the mask, so a padded row decodes as it would alone.
- `generate_shared`: `generate` for rows that repeat prompts (GRPO's groups): each distinct
  prompt prefilled once, its rows decoding against that one copy (the GRPO trainer's rollouts).
- `VLLMGenerator`: vLLM when installed (GPU machines).
- `OpenAIGenerator`: any OpenAI-compatible chat completions endpoint, called with `tools`; the
  returned message (content or tool_calls, plus reasoning if the server sends it) is rendered
  back into our grammar so it is scored the same way. Transient failures are retried with
  backoff; `results` yields each sample's output (or error) as it arrives.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from thinkact.chat import build_prompt, chat_tools, wire_messages
from thinkact.grammar import CALL_CLOSE, CALL_OPEN, THINK_CLOSE, THINK_OPEN, render_call
from thinkact.models import load_for_inference, resolve_model
from thinkact.schema import ToolCall, TurnSample, decode_arguments

Advance = Callable[[int], None] | None


def stop_token_ids(tokenizer: Any, model: Any = None) -> list[int]:
    """Token ids that end a turn: the tokenizer's eos (`<|im_end|>`) plus the model's own."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    extra = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for i in ([extra] if isinstance(extra, int) else list(extra or [])):
        if i not in ids:
            ids.append(i)
    if not ids:
        raise ValueError("the tokenizer has no eos token: generation would never stop")
    return ids


def cut_at_stop(ids: list[int], stops: list[int]) -> list[int]:
    """Generated ids before the first stop token (what follows it is padding)."""
    for i, t in enumerate(ids):
        if t in stops:
            return ids[:i]
    return ids


def decode_completion(tokenizer: Any, ids: list[int], stops: list[int]) -> str:
    """Text of generated ids up to the first stop token, special and grammar tags kept."""
    return tokenizer.decode(cut_at_stop(ids, stops), skip_special_tokens=False,
                            clean_up_tokenization_spaces=False)


def _cache_kwarg() -> str:
    """The keyword models and `generate` take a KV cache by: `cache` since transformers 5.24,
    `past_key_values` before (5.24 still takes it, with a deprecation warning)."""
    import transformers
    from packaging.version import Version

    return "cache" if Version(transformers.__version__).release >= (5, 24) else "past_key_values"


CACHE_KWARG = _cache_kwarg()


def output_cache(out: Any) -> Any:
    """The KV cache a model returned."""
    return out[CACHE_KWARG]


def cache_layers(cache: Any) -> list[tuple[Any, Any]]:
    """(keys, values) per layer of a transformers cache, each (batch, kv heads, length, head dim)."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return [(k, v) for k, v in cache]  # older transformers: a sequence of (key, value) pairs


def shared_prefix(seqs: list[list[int]], min_tokens: int = 16) -> list[int]:
    """The longest common token prefix of several prompts, leaving each at least one token of
    its own (generation needs an unprocessed token); [] when too short to be worth caching."""
    if len(seqs) < 2:
        return []
    n = min(len(s) for s in seqs) - 1
    first = seqs[0]
    for i in range(n):
        if any(s[i] != first[i] for s in seqs[1:]):
            n = i
            break
    return first[:n] if n >= min_tokens else []


class HFGenerator:
    """Batched greedy decoding with transformers: prompts are prefilled one at a time, then
    decoded together.

    - Samples with the same system prompt and tools share a long prompt prefix (the tool list
      is often most of the prompt). It is prefilled once per group and kept once per batch:
      rows attend to that one copy (`shared_prefix_attention`) instead of each row's cache
      holding it, which would make every decoding step read it once per row.
    - Prefilling a padded batch costs more than prefilling its prompts one by one (padding, an
      explicit mask), while decoding is where batching pays. So each prompt's own part, but its
      last token, is run alone after the prefix; the results are laid side by side, left-padded
      and masked, in a preallocated (static) cache, and the batch is decoded from there.
    - Prompts are sorted by length so batches pad little; outputs come back in input order.
    - A conversation's turns are prompts that extend one another (turn k's prompt starts turn
      k+1's), so a prompt's own part is often the start of one already prefilled (the longest
      come first): its keys and values are then read from that one (`PromptKV`) instead of being
      computed again, within a memory budget (`reuse_bytes`, 0 turns it off).
    - Decoding (`greedy_decode`) stops when every row has ended and drops ended rows from the
      batch as it goes.
    """

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 16,
                 max_new_tokens: int = 256, prefix_cache: bool = True, reuse_bytes: int = 2 ** 30):
        if batch_size < 1 or max_new_tokens < 1:
            raise ValueError("batch_size and max_new_tokens must be at least 1")
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.max_new_tokens = batch_size, max_new_tokens
        self.prefix_cache = prefix_cache
        self.reuse_bytes = reuse_bytes
        self.stops = stop_token_ids(tokenizer, model)
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.stops[0]
        self.new_tokens = 0  # generated tokens so far, stop tokens excluded
        # Where the time goes: prompt tokens run through the model (shared prefixes and each
        # prompt's own part, less what was reused) and seconds spent on them, against decoding.
        self.timing = {"prefill_s": 0.0, "prefill_tokens": 0, "decode_s": 0.0}

    def prompt_fits(self, sample: TurnSample) -> bool:
        """Whether the sample's prompt leaves room for max_new_tokens within the model's position
        table (config.max_position_embeddings): positions past it are ones the model never saw,
        or index past the table."""
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if limit is None:
            return True
        # verbose=False: a long prompt is expected here, not worth the tokenizer's warning.
        ids = self.tokenizer(build_prompt(self.tokenizer, sample), add_special_tokens=False,
                             verbose=False)["input_ids"]
        return len(ids) + self.max_new_tokens <= limit

    def generate(self, samples: list[TurnSample], advance: Advance = None) -> list[str]:
        prompts = [build_prompt(self.tokenizer, s) for s in samples]
        groups: dict[str, list[int]] = {}
        for i, s in enumerate(samples):
            groups.setdefault(s.system + json.dumps(s.tools, sort_keys=True), []).append(i)
        return self.generate_prompts(prompts, advance, groups=list(groups.values()))

    def generate_prompts(self, prompts: list[str], advance: Advance = None,
                         groups: list[list[int]] | None = None) -> list[str]:
        """Outputs for prompt texts; `groups` lists indices whose prompts likely share a prefix."""
        encoded = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        outputs: list[str] = [""] * len(encoded)
        work, alone = [], []  # (group, prefix) with a shared prefix; the rest batched together
        for group in groups or [list(range(len(encoded)))]:
            prefix = shared_prefix([encoded[i] for i in group]) if self.prefix_cache else []
            if prefix:
                work.append((group, prefix))
            else:
                alone += group
        if alone:
            work.append((alone, []))
        for group, prefix in work:
            prefix_kv = self._prefill(prefix, None) if prefix else None
            store = PromptKV(self.reuse_bytes) if self.reuse_bytes else None
            # Longest first: batches hold similar lengths, and running out of memory shows at once.
            order = sorted(group, key=lambda i: -len(encoded[i]))
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                for i, text in zip(idx, self._decode_batch([encoded[i] for i in idx], prefix, prefix_kv, store)):
                    outputs[i] = text
                if advance:
                    advance(len(idx))
        return outputs

    def _prefill(self, ids: list[int], prefix_kv: list[tuple[Any, Any]] | None) -> list[tuple[Any, Any]]:
        """Keys and values, per layer, of `ids` run alone after the prefix whose keys and values
        are `prefix_kv` (None: from the start); only the new positions are returned."""
        import torch
        from transformers import DynamicCache

        began = time.perf_counter()
        start = prefix_kv[0][0].shape[2] if prefix_kv else 0
        past = DynamicCache(ddp_cache_data=prefix_kv, config=self.model.config) if prefix_kv else None
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            # Only the cache is wanted: logits for the last position alone, not for every one.
            out = self.model(input_ids=torch.tensor([ids], device=device), **{CACHE_KWARG: past},
                             position_ids=torch.arange(start, start + len(ids), device=device)[None],
                             use_cache=True, **_last_logits_only(self.model))
        kv = [(k[:, :, start:], v[:, :, start:]) for k, v in cache_layers(output_cache(out))]
        self.timing["prefill_s"] += time.perf_counter() - began
        self.timing["prefill_tokens"] += len(ids)
        return kv

    def _own_kv(self, ids: list[int], prefix_kv: Any, store: "PromptKV | None") -> list[tuple[Any, Any]]:
        """`_prefill(ids, prefix_kv)`, read from `store` when a prompt prefilled before starts
        with `ids`, else computed (and kept in `store` for the prompts it starts)."""
        kv = store.covering(ids) if store is not None else None
        if kv is None:
            kv = self._prefill(ids, prefix_kv)
            if store is not None:
                store.add(ids, kv)
        return kv

    def _decode_batch(self, rows: list[list[int]], prefix: list[int], prefix_kv: Any,
                      store: "PromptKV | None" = None) -> list[str]:
        import torch

        p = len(prefix)
        width = max(len(r) for r in rows) - p  # the rows' own parts, left-padded
        device = next(self.model.parameters()).device
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            n = len(row) - p
            ids[r, width - n:] = torch.tensor(row[p:], dtype=torch.long)
            mask[r, width - n:] = 1
        positions = p + (mask.cumsum(-1) - 1).clamp(min=0)  # padding does not shift positions

        # Each row's own part but its last token, prefilled alone after the shared prefix, then
        # laid side by side in a static cache (a dynamic cache concatenates its whole length on
        # every step, which costs more than the step itself when prompts are long).
        own = [self._own_kv(row[p:-1], prefix_kv, store) if len(row) - p > 1 else None for row in rows]
        past = right_aligned_cache(self.model.config, own, width - 1, width - 1 + self.max_new_tokens)
        # The last prompt column, then decoding; the shared prefix is attended to from one copy
        # for the whole batch (see shared_prefix_attention).
        began = time.perf_counter()
        with shared_prefix_attention_on(self.model, prefix_kv), torch.inference_mode():
            generated = greedy_decode(self.model, ids.to(device), mask.to(device), positions.to(device), past,
                                      max_new_tokens=self.max_new_tokens, stops=self.stops, pad_id=self.pad_id)
        self.timing["decode_s"] += time.perf_counter() - began
        texts = []
        for new in generated:
            self.new_tokens += len(new)
            texts.append(self.tokenizer.decode(new, skip_special_tokens=False,
                                               clean_up_tokenization_spaces=False))
        return texts


# --------------------------------------------------------------------------- prompt reuse

class PromptKV:
    """Keys and values (per layer, (1, kv heads, length, head dim)) of prompt parts already
    prefilled after one shared prefix, kept within `budget` bytes (least recently used go
    first). `covering(ids)` is the first len(ids) positions of a kept part that starts with
    `ids`: causal attention makes a position's keys and values depend on the positions before
    it only, so they are those `ids` alone would get."""

    def __init__(self, budget: int):
        from collections import OrderedDict

        self.budget, self.size = budget, 0
        self.parts: OrderedDict[int, tuple[list[int], list[tuple[Any, Any]], int]] = OrderedDict()
        self.hits = self.misses = 0

    def covering(self, ids: list[int]) -> list[tuple[Any, Any]] | None:
        n = len(ids)
        for key in reversed(self.parts):
            tokens, kv, _ = self.parts[key]
            if len(tokens) >= n and tokens[n - 1] == ids[-1] and tokens[0] == ids[0] and tokens[:n] == ids:
                self.parts.move_to_end(key)
                self.hits += 1
                return [(k[:, :, :n], v[:, :, :n]) for k, v in kv]
        self.misses += 1
        return None

    def add(self, ids: list[int], kv: list[tuple[Any, Any]]) -> None:
        kv = [(k.contiguous(), v.contiguous()) for k, v in kv]  # not views of a longer cache
        size = sum(t.numel() * t.element_size() for pair in kv for t in pair)
        if size > self.budget:
            return
        while self.parts and self.size + size > self.budget:
            self.size -= self.parts.popitem(last=False)[1][2]
        self.parts[id(kv)] = (list(ids), kv, size)
        self.size += size


# --------------------------------------------------------------------------- greedy decoding

def _forward_params(model: Any) -> set[str]:
    import inspect

    try:
        return set(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        return set()


def _last_logits_only(model: Any) -> dict[str, int]:
    """The forward keyword that computes logits for the last position only, where the model
    has it (transformers' `logits_to_keep`)."""
    return {"logits_to_keep": 1} if "logits_to_keep" in _forward_params(model) else {}


def right_aligned_cache(config: Any, kvs: list[Any], width: int, length: int) -> Any:
    """A StaticCache of `length` positions holding, for each batch row, that row's keys and values
    (`kvs[r]`: per layer (k, v) of one row, or None for none) ending at column `width`, so rows of
    different lengths line up on the right as left-padded prompts do."""
    from transformers import StaticCache

    cache = StaticCache(config=config, max_cache_len=length)
    some = next((kv for kv in kvs if kv is not None), None)
    if some is None or width == 0:
        return cache
    for layer, (k0, v0) in enumerate(some):
        k = k0.new_zeros((len(kvs), k0.shape[1], width, k0.shape[3]))
        v = v0.new_zeros((len(kvs), v0.shape[1], width, v0.shape[3]))
        for r, kv in enumerate(kvs):
            if kv is not None:
                n = kv[layer][0].shape[2]
                k[r, :, width - n:] = kv[layer][0][0]
                v[r, :, width - n:] = kv[layer][1][0]
        cache.update(k, v, layer)
    return cache


def keep_cache_rows(cache: Any, keep: Any) -> bool:
    """Drop the rows of a static cache where `keep` (a bool per row) is False, layer by layer;
    False (and nothing changed) for a cache whose layers are not laid out that way."""
    layers = getattr(cache, "layers", None)
    if not layers or not all(isinstance(getattr(layer, "keys", None), type(keep)) and
                             isinstance(getattr(layer, "values", None), type(keep)) for layer in layers):
        return False
    rows = keep.nonzero().squeeze(-1)
    for layer in layers:
        layer.keys, layer.values = layer.keys.index_select(0, rows), layer.values.index_select(0, rows)
        if hasattr(layer, "batch_size"):
            layer.batch_size = len(rows)
    return True


def greedy_decode(model: Any, ids: Any, mask: Any, positions: Any, cache: Any, *, max_new_tokens: int,
                  stops: list[int], pad_id: int, compact: float = 0.25) -> list[list[int]]:
    """Greedy continuations of a left-padded batch whose prompts, but their last column, are in
    `cache` (a StaticCache): each row's tokens up to its first stop token (excluded) or
    `max_new_tokens`. The same forward calls and argmax as `model.generate(do_sample=False)`,
    without its per-step machinery (logits processors, stopping criteria, mask dictionaries),
    and with two savings that do not change any row's tokens:

    - the batch stops as soon as every row has ended;
    - rows that have ended leave the batch (their cache rows are dropped) once they are a
      `compact` share of it, so the rows still writing stop paying for them: a row's numbers do
      not depend on which other rows share its batch (left padding is masked and positions come
      from each row's own mask), and dropping rows in batches keeps the cost of copying the
      cache small against the steps it saves.
    """
    import torch

    batch = ids.shape[0]
    tokens: list[list[int]] = [[] for _ in range(batch)]
    live = list(range(batch))  # original row of each row of the current batch
    ended = torch.zeros(batch, dtype=torch.bool, device=ids.device)
    stop_ids = torch.tensor(stops, device=ids.device)
    step_ids, step_pos = ids[:, -1:], positions[:, -1:]
    for step in range(max_new_tokens):
        logits = model(input_ids=step_ids, attention_mask=mask, position_ids=step_pos, use_cache=True,
                       **{CACHE_KWARG: cache}).logits
        nxt = logits[:, -1].to(dtype=torch.float32).argmax(dim=-1)
        ended = ended | torch.isin(nxt, stop_ids)
        for r, (row, tok, done) in enumerate(zip(live, nxt.tolist(), ended.tolist())):
            if not done and len(tokens[row]) < max_new_tokens:
                tokens[row].append(tok)
        if bool(ended.all()) or step == max_new_tokens - 1:
            break
        nxt = torch.where(ended, torch.full_like(nxt, pad_id), nxt)  # what generate feeds an ended row
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=-1)
        step_ids, step_pos = nxt[:, None], step_pos + 1
        if compact and int(ended.sum()) >= max(1, compact * len(live)) and keep_cache_rows(cache, ~ended):
            keep = (~ended).nonzero().squeeze(-1)
            live = [live[i] for i in keep.tolist()]
            step_ids, step_pos, mask, ended = step_ids[keep], step_pos[keep], mask[keep], ended[keep]
    return tokens


# --------------------------------------------------------------------------- shared-prefix attention

# Layer index -> (keys, values, mask) of the prefixes the rows of the batch being decoded start
# with: keys and values (prefixes, kv heads, prefix length, head dim), mask (prefixes, prefix
# length), True where a prefix has a token (None: every position). With n prefixes and b rows,
# rows [i*b/n, (i+1)*b/n) continue prefix i. Empty when no batch decodes from shared prefixes.
_SHARED_PREFIX: dict[int, tuple[Any, Any, Any]] = {}
SHARED_PREFIX_ATTENTION = "thinkact_shared_prefix"


def shared_prefix_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                            scaling: float | None = None, dropout: float = 0.0, **kwargs: Any):
    """Attention over [shared prefix][each row's own keys], each prefix stored once for its rows.

    Decoding a batch reads every key of every row at every step; with a long shared prefix in
    each row's cache that reading is most of the step. Here the queries of a prefix's rows meet
    its one copy in a single matmul per key/value head, then their own keys; one softmax spans
    both. `key` and `value` are the rows' own parts; `attention_mask` masks them (True: attend).
    """
    import torch

    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    prefix = _SHARED_PREFIX.get(module.layer_idx)
    if prefix is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    pk, pv, pmask = prefix
    b, h, q, d = query.shape
    n, hkv, plen = pk.shape[0], pk.shape[1], pk.shape[2]
    g, m = h // hkv, b // n  # query heads per key/value head; rows per prefix
    scaling = d ** -0.5 if scaling is None else scaling
    # (b, h, q, d) -> (n, hkv, m*g*q, d): the queries of a prefix's rows that share a key/value head.
    grouped = query.view(n, m, hkv, g, q, d).transpose(1, 2).reshape(n, hkv, m * g * q, d)
    pre = torch.matmul(grouped, pk.transpose(-1, -2)) * scaling  # (n, hkv, m*g*q, plen)
    if pmask is not None:
        pre = pre.masked_fill(~pmask[:, None, None, :], float("-inf"))
    pre = pre.view(n, hkv, m, g, q, plen).transpose(1, 2).reshape(b, h, q, plen)
    k, v = repeat_kv(key, g), repeat_kv(value, g)
    mine = torch.matmul(query, k.transpose(2, 3)) * scaling  # (b, h, q, own length)
    if attention_mask is None:  # no padding: causal within the new positions
        attention_mask = torch.ones(q, k.shape[2], dtype=torch.bool, device=query.device).tril(k.shape[2] - q)
    mine = mine.masked_fill(~attention_mask[..., :k.shape[2]].bool(), float("-inf"))
    probs = torch.softmax(torch.cat([pre, mine], dim=-1), dim=-1, dtype=torch.float32).to(query.dtype)
    p_pre = probs[..., :plen].reshape(n, m, hkv, g, q, plen).transpose(1, 2).reshape(n, hkv, m * g * q, plen)
    out = torch.matmul(p_pre, pv).view(n, hkv, m, g, q, d).transpose(1, 2).reshape(b, h, q, d)
    out = out + torch.matmul(probs[..., plen:], v)
    return out.transpose(1, 2).contiguous(), None


class shared_prefix_attention_on:  # noqa: N801 - used as a context manager
    """While active, `model` attends to `prefix_kv` (per layer: keys and values of one prefix, or
    of n prefixes each continued by b/n consecutive rows) before each row's own keys;
    `prefix_mask` (n, prefix length) marks the positions each prefix has (None: all)."""

    def __init__(self, model: Any, prefix_kv: list[tuple[Any, Any]] | None, prefix_mask: Any = None):
        self.model, self.prefix_kv, self.prefix_mask = model, prefix_kv, prefix_mask

    def __enter__(self):
        if not self.prefix_kv:
            return self
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

        AttentionInterface.register(SHARED_PREFIX_ATTENTION, shared_prefix_attention)
        AttentionMaskInterface.register(SHARED_PREFIX_ATTENTION, sdpa_mask)
        self.config = self.model.config
        self.before = self.config._attn_implementation
        mask = None if self.prefix_mask is None else self.prefix_mask.bool()
        _SHARED_PREFIX.update({i: (k, v, mask) for i, (k, v) in enumerate(self.prefix_kv)})
        self.config._attn_implementation = SHARED_PREFIX_ATTENTION
        return self

    def __exit__(self, *exc):
        if self.prefix_kv:
            self.config._attn_implementation = self.before
            _SHARED_PREFIX.clear()
        return False


def prefill_prefixes(model: Any, prefixes: list[list[int]], pad_id: int = 0) -> tuple[list[tuple[Any, Any]], Any]:
    """Keys and values, per layer, of several token prefixes run in one forward, and their mask.

    The prefixes are right-padded to the longest, with no attention mask: under the causal mask
    no real token sees the padding after it, so every prefix's keys and values are what it
    would get alone, and the padding's are masked out where they are read (the mask returned,
    (prefixes, longest), True on real tokens). Runs under the caller's grad mode: with grad
    enabled the keys and values carry gradients back into the model.
    """
    import torch

    device = next(model.parameters()).device
    width = max(len(p) for p in prefixes)
    ids = torch.full((len(prefixes), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prefixes), width), dtype=torch.bool)
    for i, p in enumerate(prefixes):
        ids[i, :len(p)] = torch.tensor(p, dtype=torch.long)
        mask[i, :len(p)] = True
    out = model(input_ids=ids.to(device), use_cache=True, logits_to_keep=1)
    return cache_layers(output_cache(out)), mask.to(device)


def prompt_groups(prompts: list[list[int]]) -> tuple[list[list[int]], list[int], list[int]]:
    """Rows with identical prompts, as equal-sized runs: (distinct prompts, each run's prompt,
    the rows in run order). Every run holds the greatest common divisor of the groups' sizes
    (a GRPO batch: its group size), so runs lay out as (prefixes, rows per prefix)."""
    from math import gcd

    groups: dict[tuple[int, ...], list[int]] = {}
    for r, p in enumerate(prompts):
        groups.setdefault(tuple(p), []).append(r)
    size = 0
    for rows in groups.values():
        size = gcd(size, len(rows))
    run_prompt, order = [], []
    for d, rows in enumerate(groups.values()):
        for start in range(0, len(rows), size):
            run_prompt.append(d)
            order += rows[start:start + size]
    return [list(p) for p in groups], run_prompt, order


def generate_shared(model: Any, prompts: list[list[int]], *, pad_id: int = 0, **generate_kwargs: Any) -> Any:
    """`model.generate` for prompt token lists where many rows repeat a prompt (GRPO's groups):
    each distinct prompt but its last token is prefilled once, and its rows decode against that
    one copy (`shared_prefix_attention`) from the last prompt token on. Returns the new tokens,
    (rows, new length), in the input rows' order; positions count from each prompt's start, so
    a row decodes as it would alone. `generate_kwargs` go to `generate` (a generation config,
    sampling settings, ...); they must not change the batch's rows (no beams)."""
    import torch

    distinct, run_prompt, order = prompt_groups(prompts)
    if min(len(p) for p in distinct) < 1:
        raise ValueError("every prompt needs at least one token")
    device = next(model.parameters()).device
    last = torch.tensor([[prompts[r][-1]] for r in order], device=device)
    positions = torch.tensor([[len(prompts[r]) - 1] for r in order], device=device)
    with torch.no_grad():
        if max(len(p) for p in distinct) > 1:
            kv, mask = prefill_prefixes(model, [p[:-1] for p in distinct], pad_id)
            if run_prompt != list(range(len(distinct))):  # a prompt continued by several runs
                index = torch.tensor(run_prompt, device=device)
                kv = [(k.index_select(0, index), v.index_select(0, index)) for k, v in kv]
                mask = mask.index_select(0, index)
        else:
            kv, mask = None, None
        with shared_prefix_attention_on(model, kv, mask):
            out = model.generate(input_ids=last, attention_mask=torch.ones_like(last),
                                 position_ids=positions, **generate_kwargs)
    new = out[:, 1:]
    back = torch.empty(len(order), dtype=torch.long, device=new.device)
    back[torch.tensor(order, device=new.device)] = torch.arange(len(order), device=new.device)
    return new.index_select(0, back)


class VLLMGenerator:
    """Greedy decoding with vLLM (imported only when this back-end is chosen)."""

    def __init__(self, model_path: str | Path, *, tokenizer: Any = None, max_new_tokens: int = 256):
        try:
            from vllm import LLM, SamplingParams
        except ImportError:
            raise RuntimeError("the vllm back-end needs vLLM installed (pip install vllm, on a "
                               "GPU machine); use --backend hf otherwise") from None
        self.llm = LLM(model=str(model_path), tokenizer=str(model_path))
        self.tokenizer = tokenizer if tokenizer is not None else self.llm.get_tokenizer()
        self.stops = stop_token_ids(self.tokenizer)
        self.params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens,
                                     stop_token_ids=self.stops, skip_special_tokens=False,
                                     spaces_between_special_tokens=False)

    def generate(self, samples: list[TurnSample], advance: Advance = None) -> list[str]:
        prompts = [build_prompt(self.tokenizer, s) for s in samples]
        results = self.llm.generate(prompts, self.params, use_tqdm=False)
        if advance:
            advance(len(samples))
        return [r.outputs[0].text for r in results]


# --------------------------------------------------------------------------- OpenAI endpoint

def message_to_grammar(message: dict[str, Any]) -> str:
    """An OpenAI chat completion message rendered in our grammar. Whatever is malformed
    (arguments that are not a JSON object, text beside calls) is kept, so the parser flags it."""
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    head = f"{THINK_OPEN}\n{reasoning.strip()}\n{THINK_CLOSE}\n\n" if isinstance(reasoning, str) else ""
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts
        content = "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    calls = message.get("tool_calls")
    blocks = []
    for tc in calls if isinstance(calls, list) else []:
        fn = tc.get("function") if isinstance(tc, dict) else None
        fn = fn if isinstance(fn, dict) else {}
        name, raw = fn.get("name", ""), fn.get("arguments", "{}")
        try:
            args = decode_arguments(raw)
        except ValueError:
            args = None
        if args is not None and isinstance(name, str):
            blocks.append(render_call(ToolCall(name=name, arguments=args)))
        else:
            blocks.append(f'{CALL_OPEN}\n{{"name": {json.dumps(name)}, "arguments": {raw}}}\n{CALL_CLOSE}')
    parts = [p for p in (str(content).strip(), "\n".join(blocks)) if p]
    return head + "\n".join(parts)


class EndpointError(RuntimeError):
    """The endpoint cannot serve the run at all (nothing listening, unknown host, unknown model,
    key refused): every further request would fail the same way, so the run stops at once."""


class SampleError(RuntimeError):
    """One sample got no answer: the server rejected its request, or transient failures
    outlasted the attempts."""


class _Stopped(Exception):
    """The run ended before this sample's request was sent (again)."""


class _Transient(Exception):
    """A failure worth another attempt; `wait`: the seconds the server asked for (Retry-After)."""

    def __init__(self, message: str, wait: float | None = None):
        super().__init__(message)
        self.wait = wait


def retry_after_seconds(value: str | None) -> float | None:
    """The seconds a Retry-After header asks for, given as seconds or as an HTTP date; None when
    there is none or it cannot be read."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def error_detail(text: str, limit: int = 200) -> str:
    """A server's error body as one short line: its error message when the body is JSON
    ({"error": {"message"}} as OpenAI sends, {"message"} as vLLM sends, {"error": "..."})."""
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        err = obj.get("error", obj)
        if isinstance(err, str):
            text = err
        elif isinstance(err, dict) and isinstance(err.get("message"), str):
            text = err["message"]
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


class OpenAIGenerator:
    """Chat completions with `tools` from an OpenAI-compatible server (vLLM serve, TGI, ...),
    `concurrency` requests in flight.

    A flaky server costs retries, not the run. A 408, 429 or 5xx answer, a dropped or reset
    connection, a timeout (`timeout` seconds) or an unreadable body is tried again, `attempts`
    tries in all: after what the server's Retry-After asks, else after `backoff * 2**(try-1)`
    seconds of which half is random (clients that failed together do not retry together), never
    more than `max_wait`. A sample that still fails, or whose request the server rejects (another
    4xx), ends with an error instead of an output. A server that cannot serve the run (connection
    refused, unknown host, 401, 403, 404 as for an unknown model) raises EndpointError at once.
    """

    def __init__(self, endpoint: str, model: str, *, max_new_tokens: int = 256,
                 concurrency: int = 8, timeout: float = 300.0, api_key: str | None = None,
                 attempts: int = 5, backoff: float = 1.0, max_wait: float = 60.0):
        if not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"the endpoint must be an http(s) URL such as http://localhost:8000/v1, "
                             f"not {endpoint!r}")
        if concurrency < 1 or attempts < 1 or timeout <= 0 or backoff < 0 or max_wait < 0:
            raise ValueError("concurrency and attempts must be at least 1, timeout above 0, "
                             "backoff and max_wait not negative")
        self.url = endpoint.rstrip("/")
        if not self.url.endswith("/chat/completions"):
            self.url += "/chat/completions"
        self.model, self.max_new_tokens = model, max_new_tokens
        self.concurrency, self.timeout = concurrency, timeout
        self.attempts, self.backoff, self.max_wait = attempts, backoff, max_wait
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"

    def request(self, sample: TurnSample) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": wire_messages(sample.system, sample.context),
                                "temperature": 0, "max_tokens": self.max_new_tokens}
        if sample.tools:
            body["tools"] = chat_tools(sample.tools)
        return body

    def wait(self, attempt: int, asked: float | None = None) -> float:
        """Seconds to wait after failed try `attempt` (1, 2, ...)."""
        if asked is not None:
            return min(asked, self.max_wait)
        full = min(self.backoff * 2 ** (attempt - 1), self.max_wait)
        return full / 2 + random.uniform(0, full / 2)

    def _post(self, body: bytes) -> dict[str, Any]:
        """One request: the reply's message, or the failure classified (see the class)."""
        req = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            try:
                detail = error_detail(exc.read().decode("utf-8", "replace"))
            except (OSError, http.client.HTTPException):
                detail = ""
            said = f"{self.url} answered HTTP {exc.code}" + (f": {detail}" if detail else "")
            if exc.code in (401, 403, 404):
                raise EndpointError(said) from None
            if exc.code in (408, 429) or exc.code >= 500:
                raise _Transient(said, retry_after_seconds(exc.headers.get("Retry-After"))) from None
            raise SampleError(said) from None
        except urllib.error.URLError as exc:  # no connection made, or the request not sent
            if isinstance(exc.reason, (ConnectionRefusedError, socket.gaierror)):
                # Nothing listens there: retrying would only delay the message (a rerun resumes).
                raise EndpointError(f"cannot reach {self.url}: {exc.reason}") from None
            raise _Transient(f"{self.url}: {exc.reason}") from None
        except (OSError, http.client.HTTPException) as exc:  # the answer dropped, reset or late
            raise _Transient(f"{self.url}: {type(exc).__name__} {exc}".strip()) from None
        try:
            message = json.loads(raw)["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            message = None
        if not isinstance(message, dict):
            raise _Transient(f"{self.url} sent no choices[0].message: "
                             f"{error_detail(raw.decode('utf-8', 'replace'))}")
        return message

    def complete(self, sample: TurnSample, stop: threading.Event | None = None) -> str:
        """The action for one sample, in our grammar, retried as the class says: SampleError
        when it gets none, EndpointError (and `stop` set) when the endpoint cannot serve the run.
        Once `stop` is set no request is sent and the wait between tries ends."""
        stop = stop or threading.Event()
        body = json.dumps(self.request(sample)).encode()
        attempt = 1
        while not stop.is_set():
            try:
                return message_to_grammar(self._post(body))
            except EndpointError:
                stop.set()  # no other request of the run is sent
                raise
            except _Transient as exc:
                if attempt == self.attempts:
                    raise SampleError(f"{exc} (after {attempt} attempts)") from None
                stop.wait(self.wait(attempt, exc.wait))
            attempt += 1
        raise _Stopped

    def results(self, samples: list[TurnSample]) -> Iterator[tuple[int, str | None, str | None]]:
        """(index, output, None) or (index, None, error) for each sample, as each finishes.
        An EndpointError is raised as soon as one request meets it, and no request is sent
        after it."""
        stop = threading.Event()
        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        try:
            futures = {pool.submit(self.complete, s, stop): i for i, s in enumerate(samples)}
            for future in as_completed(futures):
                try:
                    output = future.result()
                except _Stopped:  # the run is ending: its EndpointError follows, or the caller left
                    continue
                except SampleError as exc:
                    yield futures[future], None, str(exc)
                    continue
                yield futures[future], output, None
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def generate(self, samples: list[TurnSample], advance: Advance = None) -> list[str]:
        """Outputs in the samples' order; a sample without one is a RuntimeError (the callers
        that want a run to survive one read `results`)."""
        outputs: list[str] = [""] * len(samples)
        for i, output, error in self.results(samples):
            if output is None:
                raise RuntimeError(f"sample '{samples[i].id}': {error}")
            outputs[i] = output
            if advance:
                advance(1)
        return outputs


def make_generator(backend: str, model: Any, *, tokenizer: Any = None, endpoint: str | None = None,
                   batch_size: int = 16, max_new_tokens: int = 256, concurrency: int = 8,
                   timeout: float = 300.0, attempts: int = 5):
    """The back-end by name. `model` is a folder (hf, vllm), a loaded model (hf) or the model
    name the endpoint serves (openai); `concurrency`, `timeout` (seconds per request) and
    `attempts` are the endpoint's."""
    if backend == "openai":
        if not endpoint:
            raise ValueError("the openai back-end needs an endpoint URL (--endpoint)")
        return OpenAIGenerator(endpoint, str(model), max_new_tokens=max_new_tokens,
                               concurrency=concurrency, timeout=timeout, attempts=attempts)
    if backend == "vllm":
        return VLLMGenerator(resolve_model(str(model)), tokenizer=tokenizer, max_new_tokens=max_new_tokens)
    if backend != "hf":
        raise ValueError(f"unknown back-end '{backend}' (hf, vllm or openai)")
    if isinstance(model, (str, Path)):
        model, loaded = load_for_inference(str(model))
        tokenizer = tokenizer if tokenizer is not None else loaded
    elif tokenizer is None:
        raise ValueError("a loaded model needs its tokenizer")
    return HFGenerator(model, tokenizer, batch_size=batch_size, max_new_tokens=max_new_tokens)
