"""GRPO with one prompt pass per group: TRL's GRPOTrainer, computing each distinct prompt once.

A GRPO group is G completions of one prompt. TRL runs the prompt G times: in the generation
prefill, then in every log-prob pass (policy with its backward, old policy, reference). With
prompts of P tokens and completions of C, a group costs G x (P + C) tokens where P + G x C
would do. `SharedPrefixGRPOTrainer` keeps TRL's trainer (config, rewards, logging, checkpoints,
resume) and replaces three steps:

- Rollouts (`_generate_single_turn`): each distinct prompt but its last token is prefilled
  once; its rows decode against that one copy of its keys and values
  (`thinkact.evaluate.generation.generate_shared`, the evaluation's shared-prefix decoding).
- Log-probs (`_get_per_token_logps_and_entropies`): per micro-batch, each distinct prompt (rows
  with identical un-padded prompt ids, whatever their order) runs once with a KV cache, beside
  prompts of similar length; its keys and values are gathered to its rows, which run [last
  prompt token, completion] after them with the right positions and mask. The gather's backward sums the rows' gradients into
  the shared prompt, so log-probs and gradients are TRL's (the PrefixGrouper identity).
- Tied groups (`_compute_loss`): with beta = 0 and no entropy term, a completion whose
  advantage is exactly 0 adds exactly 0 to the loss and its gradient; it is left out of the
  forward and backward, its place in the loss filled with a constant, so every normalisation
  (tokens, sequences, batch) is TRL's. `skipped_groups` logs the groups whose every advantage
  was 0 at each generation.

Where a path does not apply (vLLM or continuous-batching rollouts, tools, multimodal or
encoder-decoder models, sliding-window attention, gradient checkpointing, DeepSpeed or FSDP,
generation settings that read the prompt, or a model that fails a first-use check against TRL's
own computation) that path is TRL's, and one warning says why.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from typing import Any

import torch
from trl import GRPOTrainer

from thinkact.evaluate.generation import (CACHE_KWARG, generate_shared, prefill_prefixes,
                                          shared_prefix_attention_on)

# Generation settings the shared rollout reproduces: they act on the logits of the new tokens
# only. Others (repetition penalties, n-gram blocking, beams, min_length) read the prompt or
# change the batch's rows.
SAMPLING_KEYS = {"max_new_tokens", "do_sample", "pad_token_id", "bos_token_id", "eos_token_id",
                 "temperature", "top_p", "top_k", "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff",
                 "repetition_penalty", "cache_implementation", "suppress_tokens", "min_new_tokens"}
# What a text-only batch holds; anything else (images, token types) leaves the loss to TRL.
TEXT_INPUTS = {"prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "advantages",
               "num_items_in_batch", "old_per_token_logps", "ref_per_token_logps", "tool_mask",
               "importance_sampling_ratio", "sampling_per_token_logps"}


def group_rows(prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> tuple[list[list[int]], list[int]]:
    """Distinct un-padded prompts of a batch, and each row's index into them."""
    distinct: dict[tuple[int, ...], int] = {}
    index = []
    for ids, mask in zip(prompt_ids.tolist(), prompt_mask.bool().tolist()):
        key = tuple(t for t, m in zip(ids, mask) if m)
        index.append(distinct.setdefault(key, len(distinct)))
    return [list(p) for p in distinct], index


def length_buckets(lengths: list[int], slack: float = 1.15) -> list[list[int]]:
    """Indices of `lengths` in buckets of similar length (the longest at most `slack` times the
    shortest), shortest first: prompts run together only where padding wastes little."""
    buckets: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        if buckets and lengths[i] <= slack * lengths[buckets[-1][0]]:
            buckets[-1].append(i)
        else:
            buckets.append([i])
    return buckets


def shared_prefix_logps(model: Any, config: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                        logits_to_keep: int, compute_entropy: bool = False, pad_id: int = 0
                        ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-token log-probs (and entropies) of the completions in a GRPO batch, as TRL computes
    them from [prompt][completion] rows, with each distinct prompt run once.

    `input_ids` / `attention_mask` are TRL's (rows, prompt + completion): prompts left-padded,
    completions right-padded, `logits_to_keep` completion positions. `model` is a causal LM
    patched by TRL with its fused LM head (`fused_lm_head=True` returns `log_probs` and
    `entropy` without materialising the logits). Each distinct prompt but its last token runs
    once with a KV cache (with grad when grad is on); the rows gather their prompt's keys and
    values and run [last prompt token, completion] after them: the last prompt token scores the
    first completion token, as in TRL's row. Prompts of similar length run together
    (`length_buckets`), so little is spent on padding. Returns (rows, logits_to_keep) tensors.
    """
    width = input_ids.size(1) - logits_to_keep
    prompts, index = group_rows(input_ids[:, :width], attention_mask[:, :width])
    device = input_ids.device
    rows_of: list[list[int]] = [[] for _ in prompts]
    for r, i in enumerate(index):
        rows_of[i].append(r)
    order, logps, entropies = [], [], []
    for bucket in length_buckets([len(p) for p in prompts]):
        rows = [r for i in bucket for r in rows_of[i]]
        lp, ent = _rows_after_prompts(model, config, [prompts[i] for i in bucket],
                                      [bucket.index(index[r]) for r in rows], input_ids[rows, width:],
                                      attention_mask[rows, width:], compute_entropy, pad_id)
        order += rows
        logps.append(lp)
        entropies.append(ent)
    back = torch.empty(len(order), dtype=torch.long, device=device)
    back[torch.tensor(order, device=device)] = torch.arange(len(order), device=device)
    logps = torch.cat(logps).index_select(0, back)
    return logps, torch.cat(entropies).index_select(0, back) if compute_entropy else None


def _rows_after_prompts(model: Any, config: Any, prompts: list[list[int]], index: list[int],
                        completion: torch.Tensor, completion_mask: torch.Tensor, compute_entropy: bool,
                        pad_id: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs of completions (one row each, continuing prompts[index[row]]) with each of
    `prompts` but its last token run once."""
    from transformers import DynamicCache

    device = completion.device
    rows = torch.tensor(index, device=device)
    kv, prefix_mask = prefill_prefixes(model, [p[:-1] for p in prompts], pad_id)
    cache = DynamicCache(ddp_cache_data=[(k.index_select(0, rows), v.index_select(0, rows)) for k, v in kv],
                         config=config)
    last = torch.tensor([[prompts[i][-1]] for i in index], device=device)
    own_ids = torch.cat([last, completion], dim=1)
    own_mask = torch.cat([torch.ones_like(last), completion_mask.to(last.dtype)], dim=1)
    starts = torch.tensor([len(prompts[i]) - 1 for i in index], device=device)
    positions = starts[:, None] + torch.arange(own_ids.size(1), device=device)[None]
    mask = torch.cat([prefix_mask.index_select(0, rows).to(own_mask.dtype), own_mask], dim=1)
    labels = own_ids.masked_fill(own_mask == 0, -100)
    labels[:, 0] = -100
    out = model(input_ids=own_ids, attention_mask=mask, position_ids=positions, labels=labels,
                fused_lm_head=True, **{CACHE_KWARG: cache})
    return out.log_probs, out.entropy if compute_entropy else None


class SharedPrefixGRPOTrainer(GRPOTrainer):
    """TRL's GRPOTrainer with each distinct prompt computed once per rollout and per log-prob
    pass, and completions that cannot move the loss left out (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._skip_state: tuple | None = None
        self._checked: set[str] = set()
        self._fallback: dict[str, str] = {}
        reason = self._unsupported_model()
        if reason:
            self._fall_back(["rollouts", "log-probs"], reason)
        else:
            for part, why in (("rollouts", self._unsupported_generation()),
                              ("log-probs", self._unsupported_logps())):
                if why:
                    self._fall_back([part], why)

    # ------------------------------------------------------------------ where the shared paths apply

    def _fall_back(self, parts: list[str], why: str) -> None:
        """Leave `parts` to TRL's own path, with one warning."""
        parts = [p for p in parts if p not in self._fallback]
        if parts:
            self._fallback.update({p: why for p in parts})
            warnings.warn(f"shared-prefix GRPO: {' and '.join(parts)} use TRL's own path ({why})", stacklevel=3)

    def uses_shared(self, part: str) -> bool:
        """Whether `part` ("rollouts" or "log-probs") runs each distinct prompt once."""
        return part not in self._fallback

    def _unsupported_model(self) -> str | None:
        config = self.accelerator.unwrap_model(self.model).config
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        if getattr(config, "is_encoder_decoder", False):
            return "an encoder-decoder model"
        if getattr(self, "_is_vlm", False):
            return "a vision-language model"
        if "sliding_attention" in (getattr(text, "layer_types", None) or []) or (
                getattr(text, "sliding_window", None) and getattr(text, "use_sliding_window", True)):
            return "sliding-window attention"
        return None

    def _unsupported_generation(self) -> str | None:
        if self.use_vllm:
            return "vLLM generation"
        if getattr(self, "use_transformers_continuous_batching", False):
            return "continuous-batching generation"
        if getattr(self, "rollout_func", None) is not None:
            return "a custom rollout_func"
        if getattr(self, "tools", None) or getattr(self, "environment_factories", None):
            return "tool-calling rollouts"
        kwargs = getattr(self, "generation_kwargs", None) or {}
        other = sorted(k for k, v in kwargs.items() if k not in SAMPLING_KEYS and v is not None)
        if other:
            return f"generation settings {other}"
        if kwargs.get("repetition_penalty") not in (None, 1.0):
            return "a repetition penalty (it reads the prompt)"
        return None

    def _unsupported_logps(self) -> str | None:
        args = self.args
        key = "activation_checkpointing" if hasattr(args, "activation_checkpointing") else "gradient_checkpointing"
        if getattr(args, key, False):
            return "gradient checkpointing (the prompt's KV cache would be dropped)"
        if self.is_deepspeed_enabled or self.is_fsdp_enabled:
            return "DeepSpeed or FSDP"
        return None

    def _check(self, part: str, model: Any) -> bool:
        """On first use, compare the shared path with TRL's own on a small random batch (two
        prompts of different lengths, two rows each, a padded completion); any error or a
        difference beyond rounding leaves `part` to TRL."""
        if part in self._fallback:
            return False
        if part in self._checked:
            return True
        self._checked.add(part)
        unwrapped = self.accelerator.unwrap_model(model)
        was_training = unwrapped.training
        gen = torch.Generator().manual_seed(0)
        vocab = unwrapped.get_input_embeddings().num_embeddings
        device = next(unwrapped.parameters()).device
        prompts = [torch.randint(0, vocab, (n,), generator=gen).tolist() for n in (7, 5)]
        rows = [prompts[0], prompts[0], prompts[1], prompts[1]]
        try:
            unwrapped.eval()
            with torch.no_grad():
                if part == "rollouts":
                    diff = self._check_rollouts(unwrapped, rows, device)
                else:
                    diff = self._check_logps(model, rows, gen, vocab, device)
        except Exception as exc:  # any model the shared path cannot drive: TRL's path instead
            self._fall_back([part], f"the model failed the first-use check: {type(exc).__name__}: {exc}")
            return False
        finally:
            unwrapped.train(was_training)
        tolerance = 1e-3 if unwrapped.dtype == torch.float32 else 0.25
        if not diff <= tolerance:
            self._fall_back([part], f"the model's results differ from TRL's by {diff:.2g} in the first-use check")
            return False
        return True

    def _check_rollouts(self, model: Any, rows: list[list[int]], device: Any) -> float:
        kv, mask = prefill_prefixes(model, [rows[0][:-1], rows[2][:-1]], self._pad_id)
        kv = [(k.repeat_interleave(2, 0), v.repeat_interleave(2, 0)) for k, v in kv]
        last = torch.tensor([[r[-1]] for r in rows], device=device)
        positions = torch.tensor([[len(r) - 1] for r in rows], device=device)
        with shared_prefix_attention_on(model, kv, mask.repeat_interleave(2, 0)):
            shared = model(input_ids=last, attention_mask=torch.ones_like(last), position_ids=positions).logits[:, -1]
        plain = torch.stack([model(input_ids=torch.tensor([r], device=device)).logits[0, -1] for r in rows])
        return (shared.float().log_softmax(-1) - plain.float().log_softmax(-1)).abs().max().item()

    def _check_logps(self, model: Any, rows: list[list[int]], gen: torch.Generator, vocab: int, device: Any) -> float:
        width = max(len(r) for r in rows)
        prompt = torch.tensor([[self._pad_id] * (width - len(r)) + r for r in rows], device=device)
        prompt_mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
        completion = torch.randint(0, vocab, (len(rows), 3), generator=gen).to(device)
        completion_mask = torch.ones_like(completion)
        completion_mask[-1, -1] = 0
        ids, mask = torch.cat([prompt, completion], 1), torch.cat([prompt_mask, completion_mask], 1)
        theirs, _, _ = super()._get_per_token_logps_and_entropies(model, ids, mask, 3)
        ours, _ = self._shared_logps(model, ids, mask, 3, False)
        return (ours.float() - theirs.float()).abs().max().item()

    # ------------------------------------------------------------------ rollouts

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        if not self.uses_shared("rollouts") or images is not None or multimodal_fields or has_tool_images:
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                 has_tool_images)
        from trl.trainer.grpo_trainer import profiling_context, unwrap_model_for_generation

        dist = getattr(self, "_dist", None)
        with (profiling_context(self, "transformers.generate"),
              unwrap_model_for_generation(self.model_wrapped, self.accelerator,
                                          gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                                          generation_kwargs=self.generation_kwargs,
                                          gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs
                                          ) as model,
              torch.no_grad(),
              dist.summon_full_params(self.model_wrapped, recurse=False) if dist else nullcontext()):
            if not self._check("rollouts", model):
                new = None
            else:
                new = generate_shared(model, [list(p) for p in prompt_ids], pad_id=self._pad_id,
                                      generation_config=self.generation_config)
        if new is None:
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                 has_tool_images)
        # As TRL: a completion ends with its first end-of-sequence token; what follows is padding.
        stops = set(self.eos_token_ids)
        completion_ids = []
        for row in new.tolist():
            end = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
            completion_ids.append(row[:end])
        return completion_ids, None

    # ------------------------------------------------------------------ log-probs

    @property
    def _pad_id(self) -> int:
        pad = self._tokenizer.pad_token_id
        return 0 if pad is None else pad

    def _shared_logps(self, model, input_ids, attention_mask, logits_to_keep, compute_entropy):
        config = self.accelerator.unwrap_model(model).config
        with self.accelerator.autocast():
            return shared_prefix_logps(model, config, input_ids, attention_mask, logits_to_keep,
                                       compute_entropy, self._pad_id)

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                           batch_size=None, compute_entropy=False, compute_aux_loss=False,
                                           **extra):
        skip, self._skip_state = self._skip_state, None
        if skip is not None:
            return self._logps_without(skip, model, input_ids, attention_mask, logits_to_keep, batch_size,
                                       compute_entropy, compute_aux_loss, **extra)
        prompt_width = input_ids.size(1) - logits_to_keep
        if (compute_aux_loss or any(v is not None for v in extra.values()) or prompt_width < 2
                or attention_mask[:, :prompt_width].sum(1).max() < 2 or not self._check("log-probs", model)):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **extra)
        batch_size = batch_size or input_ids.size(0)
        logps, entropies = [], []
        for start in range(0, input_ids.size(0), batch_size):
            lp, ent = self._shared_logps(model, input_ids[start:start + batch_size],
                                         attention_mask[start:start + batch_size], logits_to_keep, compute_entropy)
            logps.append(lp)
            entropies.append(ent)
        return torch.cat(logps), torch.cat(entropies) if compute_entropy else None, None

    # ------------------------------------------------------------------ completions that cannot move the loss

    def _can_skip(self, inputs: dict[str, Any]) -> bool:
        """A completion with advantage 0 adds exactly 0 to the loss and to every gradient when no
        term of the loss reaches it without its advantage: no KL term, no entropy bonus or
        entropy quantile (computed over all tokens), no auxiliary loss, per-sequence advantages."""
        return (self.beta == 0.0 and not getattr(self, "_entropy_bonus_enabled", False)
                and getattr(self, "top_entropy_quantile", 1.0) == 1.0 and not getattr(self, "aux_loss_enabled", False)
                and inputs["advantages"].dim() == 1 and set(inputs) <= TEXT_INPUTS)

    def _compute_loss(self, model, inputs):
        if not self._can_skip(inputs):
            return super()._compute_loss(model, inputs)
        skip = inputs["advantages"] == 0
        if not skip.any():
            return super()._compute_loss(model, inputs)
        mask = inputs["completion_mask"]
        if "tool_mask" in inputs:
            mask = mask * inputs["tool_mask"]
        if skip.all():
            # One row still runs (the shortest): every parameter then gets its (zero) gradient,
            # so the optimizer step is TRL's, and distributed training sees the same graph.
            lengths = inputs["prompt_mask"].sum(1) + inputs["completion_mask"].sum(1)
            skip = skip.clone()
            skip[lengths.argmin()] = False
        self._skip_state = (skip, inputs.get("old_per_token_logps"), mask)
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._skip_state = None

    def _logps_without(self, state, model, input_ids, attention_mask, logits_to_keep, batch_size,
                       compute_entropy, compute_aux_loss, **extra):
        """Log-probs of the rows not skipped; a skipped row gets its old log-probs (or zeros when
        the old ones are this pass's own, detached) so its ratio is exactly 1 and, with advantage
        0, its loss exactly 0 (any other ratio could overflow, and 0 x inf is NaN); its
        entropies are the mean of the computed ones, which leaves the logged entropy the mean
        over the completions computed."""
        skip, old, mask = state
        keep = (~skip).nonzero().squeeze(1)
        logps, entropies, aux = self._get_per_token_logps_and_entropies(
            model, input_ids[keep], attention_mask[keep], logits_to_keep, batch_size=batch_size,
            compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **extra)
        full = old.clone() if old is not None else torch.zeros(skip.size(0), logps.size(1), device=logps.device,
                                                                   dtype=logps.dtype)
        full = full.to(logps.dtype)
        full[keep] = logps
        if entropies is not None:
            kept_mask = mask[keep].to(entropies.dtype)
            mean = (entropies.detach() * kept_mask).sum() / kept_mask.sum().clamp(min=1.0)
            ent_full = mean.expand(skip.size(0), entropies.size(1)).clone()
            ent_full[keep] = entropies
            entropies = ent_full
        return full, entropies, aux

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        if self.model.training and self._can_skip(output):
            _, index = group_rows(output["prompt_ids"], output["prompt_mask"])
            zero: dict[int, bool] = {}
            for i, a in zip(index, (output["advantages"] == 0).tolist()):
                zero[i] = zero.get(i, True) and a
            # Across processes each holds whole groups (TRL's sampler), so the counts add up.
            count = torch.tensor(float(sum(zero.values())), device=output["advantages"].device)
            self._metrics["train"]["skipped_groups"].append(self.accelerator.gather(count).sum().item())
        return output
