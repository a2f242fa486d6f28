"""Sampled actions for episode rollouts, one token sequence per episode.

`EpisodeSampler` is a generator for the episodes' batched policy (`evaluate.episodes.BatchingPolicy`,
`play_batched`): each sample it gets is the next action of one episode (the sample's
`conversation_id`). It keeps each episode's `Transcript` (train.transcript): the new messages
since the episode's last action are appended as the environment's tokens, the action is sampled
after the whole sequence, and its tokens and log-probabilities are appended as the model's.

Rollouts are most of an episode GRPO step, so the sampler avoids recomputing what it has seen:

- Keys and values of every sequence it ran are kept. A new sequence starts from the longest
  prefix it shares with one of them (its own episode's last turn, another episode of the same
  group, or just the system prompt and tools) and only the rest is run.
- The rows of a batch are then decoded together from a static cache, left-padded, positions
  from each row's own mask (as `HFGenerator` decodes), sampling with the trainer's temperature
  and top-p. A row's log-probability is that of the tempered distribution, which is what TRL
  computes in its log-prob passes.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from thinkact.evaluate.generation import (CACHE_KWARG, cache_layers, keep_cache_rows, output_cache, right_aligned_cache,
                                         stop_token_ids)
from thinkact.schema import TurnSample
from thinkact.train.transcript import Transcript, extend, start


def sample_next(logits: torch.Tensor, temperature: float, top_p: float,
                generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One token per row from `logits` (rows, vocab) at `temperature`, within the top-p nucleus,
    and its log-probability under the tempered distribution (before the nucleus cut)."""
    logps = torch.log_softmax(logits.float() / temperature, dim=-1)
    probs = logps.exp()
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        outside = sorted_p.cumsum(-1) - sorted_p > top_p  # keep the smallest set reaching top_p
        sorted_p = sorted_p.masked_fill(outside, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    tokens = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    return tokens, logps.gather(-1, tokens[:, None]).squeeze(-1)


class KVStore:
    """Keys and values (per layer, (1, kv heads, length, head dim)) of token sequences run
    before. `longest(ids)` is the most positions of `ids` some kept sequence starts with, and
    their keys and values: under causal attention they are what `ids` alone would get."""

    def __init__(self) -> None:
        self.kept: dict[str, tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]] = {}

    def longest(self, ids: list[int]) -> tuple[int, list[tuple[torch.Tensor, torch.Tensor]] | None]:
        want = torch.tensor(ids)
        best, best_kv = 0, None
        for kept_ids, kv in self.kept.values():
            n = min(len(kept_ids), len(want))
            same = kept_ids[:n] == want[:n]
            common = n if bool(same.all()) else int((~same).int().argmax())
            if common > best:
                best, best_kv = common, kv
        if best_kv is None:
            return 0, None
        return best, [(k[:, :, :best], v[:, :, :best]) for k, v in best_kv]

    def keep(self, key: str, ids: list[int], kv: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.kept[key] = (torch.tensor(ids), kv)


class EpisodeSampler:
    """Samples each episode's next action after its whole token sequence (module docstring).

    `transcripts` maps an episode (a sample's conversation_id) to its Transcript. An episode
    whose next prompt leaves no room for `max_new_tokens` within `max_length` (default: the
    model's position table) does not fit (`prompt_fits`): the simulator ends it there."""

    def __init__(self, model: Any, tokenizer: Any, *, max_new_tokens: int, temperature: float = 1.0,
                 top_p: float = 1.0, seed: int = 0, max_length: int | None = None):
        if max_new_tokens < 1 or temperature <= 0 or not 0 < top_p <= 1:
            raise ValueError("max_new_tokens must be at least 1, temperature above 0, top_p in (0, 1]")
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.temperature, self.top_p = max_new_tokens, temperature, top_p
        self.generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
        self.max_length = max_length or getattr(model.config, "max_position_embeddings", None)
        self.stops = stop_token_ids(tokenizer, model)
        self.end = tokenizer.convert_tokens_to_ids(tokenizer.eos_token)
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.stops[0]
        self.transcripts: dict[str, Transcript] = {}
        self.pending: dict[str, tuple[int, list[int]]] = {}  # episode -> (context length, new env tokens)
        self.kv = KVStore()
        self.new_tokens = self.prefill_tokens = 0

    # ------------------------------------------------------------------ the sequence of an episode

    def _next_env(self, sample: TurnSample) -> list[int]:
        """The environment's tokens to add before this sample's action (the first prompt for a new
        episode), computed once per sample."""
        key = sample.conversation_id
        if key in self.pending and self.pending[key][0] == len(sample.context):
            return self.pending[key][1]
        t = self.transcripts.get(key)
        new = start(self.tokenizer, sample).prompt_ids if t is None else extend(self.tokenizer, t, sample)
        self.pending[key] = (len(sample.context), new)
        return new

    def prompt_fits(self, sample: TurnSample) -> bool:
        t = self.transcripts.get(sample.conversation_id)
        length = (len(t.ids) if t else 0) + len(self._next_env(sample))
        return self.max_length is None or length + self.max_new_tokens <= self.max_length

    def _commit(self, sample: TurnSample) -> Transcript:
        key = sample.conversation_id
        new = self._next_env(sample)
        del self.pending[key]
        t = self.transcripts.get(key)
        if t is None:
            t = self.transcripts[key] = Transcript(prompt_ids=new, seen=len(sample.context))
        else:
            t.add_env(new)
            t.seen = len(sample.context)
        return t

    def generate(self, samples: list[TurnSample], advance: Callable[[int], None] | None = None) -> list[str]:
        """The next action of each sample's episode, as text (its tokens go to the transcript)."""
        if len({s.conversation_id for s in samples}) != len(samples):
            raise ValueError("one action per episode and batch")
        transcripts = [self._commit(s) for s in samples]
        tokens, logps = self._sample_rows(samples, [t.ids for t in transcripts])
        texts = []
        for t, ids, lps in zip(transcripts, tokens, logps):
            ended = bool(ids) and ids[-1] in self.stops
            own = ids[:-1] if ended else ids
            text = self.tokenizer.decode(own, skip_special_tokens=False, clean_up_tokenization_spaces=False)
            t.add_action(ids, lps, text, end=None if ended else self.end)
            self.new_tokens += len(ids)
            texts.append(text)
        if advance:
            advance(len(samples))
        return texts

    # ------------------------------------------------------------------ model work

    def _prefill(self, key: str, ids: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Keys and values of `ids` (per layer, (1, heads, len, dim)): the longest kept prefix,
        then the rest run after it; kept under `key` for the episode's next turn."""
        from transformers import DynamicCache

        have, kv = self.kv.longest(ids)
        if have == len(ids) and kv is not None:
            return kv
        device = next(self.model.parameters()).device
        past = DynamicCache(ddp_cache_data=kv, config=self.model.config) if kv else None
        rest = ids[have:]
        out = self.model(input_ids=torch.tensor([rest], device=device), **{CACHE_KWARG: past},
                         position_ids=torch.arange(have, len(ids), device=device)[None], use_cache=True,
                         logits_to_keep=1)
        self.prefill_tokens += len(rest)
        full = [(k.contiguous(), v.contiguous()) for k, v in cache_layers(output_cache(out))]
        self.kv.keep(key, ids, full)
        return full

    @torch.inference_mode()
    def _sample_rows(self, samples: list[TurnSample], rows: list[list[int]]
                     ) -> tuple[list[list[int]], list[list[float]]]:
        """Sampled continuations of `rows` (the samples' episodes' token sequences), each up to
        and including its first stop token, at most max_new_tokens, and their log-probabilities."""

        device = next(self.model.parameters()).device
        width = max(len(r) for r in rows)
        kvs = [self._prefill(s.conversation_id, r[:-1]) if len(r) > 1 else None for s, r in zip(samples, rows)]
        ids = torch.full((len(rows), 1), self.pad_id, dtype=torch.long, device=device)
        mask = torch.zeros((len(rows), width), dtype=torch.long, device=device)
        for r, row in enumerate(rows):
            ids[r, 0] = row[-1]
            mask[r, width - len(row):] = 1
        positions = torch.tensor([[len(r) - 1] for r in rows], device=device)
        cache = right_aligned_cache(self.model.config, kvs, width - 1, width - 1 + self.max_new_tokens)
        stops = torch.tensor(self.stops, device=device)
        ended = torch.zeros(len(rows), dtype=torch.bool, device=device)
        live = list(range(len(rows)))  # the row of `rows` each row of the batch is
        tokens: list[list[int]] = [[] for _ in rows]
        logps: list[list[float]] = [[] for _ in rows]
        for _ in range(self.max_new_tokens):
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                                **{CACHE_KWARG: cache}).logits[:, -1]
            nxt, lp = sample_next(logits, self.temperature, self.top_p, self.generator)
            for row, tok, p, done in zip(live, nxt.tolist(), lp.tolist(), ended.tolist()):
                if not done:
                    tokens[row].append(tok)
                    logps[row].append(p)
            ended = ended | torch.isin(nxt, stops)
            if bool(ended.all()):
                break
            ids = torch.where(ended, torch.full_like(nxt, self.pad_id), nxt)[:, None]
            mask = torch.cat([mask, mask.new_ones((len(live), 1))], dim=-1)
            positions = positions + 1
            # Rows that have ended leave the batch once they are a quarter of it (as greedy_decode
            # does): the others stop paying for them, and no row's numbers depend on its batch.
            if int(ended.sum()) >= max(1, len(live) // 4) and keep_cache_rows(cache, ~ended):
                keep = (~ended).nonzero().squeeze(-1)
                live = [live[i] for i in keep.tolist()]
                ids, positions, mask, ended = ids[keep], positions[keep], mask[keep], ended[keep]
        return tokens, logps

