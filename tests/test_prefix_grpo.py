"""Shared-prefix GRPO against TRL's own path, computed in the same test on the same trainer:
greedy rollouts, per-token log-probs and entropies, the loss and its gradients, with padded
prompts of different lengths, completions of different lengths, rows in shuffled order and
groups of 2 and 8; completions with advantage 0 left out without changing the loss; the
fallback to TRL's path."""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import pytest
import torch
from trl import GRPOConfig, GRPOTrainer
from trl.trainer.utils import pad

from thinkact.train.prefix_grpo import SharedPrefixGRPOTrainer, group_rows, length_buckets

PROMPTS = ["Where is my order W1042?", "hello " * 9 + "please help with the refund of order W2201",
           "cancel it", "my card was charged twice " * 3 + "for order W77, what now?"]


@pytest.fixture(scope="module")
def peaked_dir(tmp_path_factory, tiny_tokenizer):
    """A tiny Qwen3 with grouped key/value heads and large initial weights, so its greedy
    outputs depend on the prompt (small weights decode every prompt alike)."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from thinkact.models import save_model

    tok = tiny_tokenizer
    torch.manual_seed(0)
    cfg = Qwen3Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=1024,
                      initializer_range=0.2, tie_word_embeddings=True, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    return save_model(Qwen3ForCausalLM(cfg), tok, tmp_path_factory.mktemp("peaked") / "model")


def length_reward(completions, **kwargs):
    return [float(len(c) % 3) for c in completions]


def make_trainer(model_dir, tmp_path, g: int, cls=SharedPrefixGRPOTrainer, peft_config=None, **overrides):
    from datasets import Dataset

    from thinkact.models import load_model_and_tokenizer

    torch.manual_seed(0)
    model, tok = load_model_and_tokenizer(str(model_dir))
    settings = dict(output_dir=str(tmp_path / "out"), per_device_train_batch_size=8 if g == 2 else 16,
                    num_generations=g, max_completion_length=10, use_cpu=True, bf16=False,
                    activation_checkpointing=False, report_to="none", save_strategy="no", max_steps=1,
                    disable_tqdm=True, logging_steps=1, loss_type="dapo")
    settings.update(overrides)
    trainer = cls(model=model, reward_funcs=[length_reward], args=GRPOConfig(**settings),
                  train_dataset=Dataset.from_list([{"prompt": p} for p in PROMPTS]), processing_class=tok,
                  peft_config=peft_config)
    trainer.current_gradient_accumulation_steps = 1
    return trainer, tok


def batch(tok, g: int, seed: int = 0):
    """TRL's tensors for a batch of 8 (g=2: four prompts) or 16 (g=8: two prompts) rows in
    shuffled order: prompts left-padded, random completions of 1..8 tokens right-padded."""
    gen = torch.Generator().manual_seed(seed)
    n = 4 if g == 2 else 2
    ids = [tok(p)["input_ids"] for p in PROMPTS[:n]]
    order = torch.randperm(n * g, generator=gen).tolist()
    rows = [ids[i % n] for i in order]
    lengths = torch.randint(1, 9, (len(rows),), generator=gen).tolist()
    completions = [torch.randint(3, len(tok), (k,), generator=gen) for k in lengths]
    prompt_ids = pad([torch.tensor(r) for r in rows], padding_value=tok.pad_token_id, padding_side="left")
    prompt_mask = pad([torch.ones(len(r), dtype=torch.long) for r in rows], padding_value=0, padding_side="left")
    completion_ids = pad(completions, padding_value=tok.pad_token_id, padding_side="right")
    completion_mask = pad([torch.ones(k, dtype=torch.long) for k in lengths], padding_value=0, padding_side="right")
    return rows, {"prompt_ids": prompt_ids, "prompt_mask": prompt_mask, "completion_ids": completion_ids,
                  "completion_mask": completion_mask, "num_items_in_batch": completion_mask.sum()}


def count_prefills(monkeypatch):
    """Counts the prompt passes of the shared path (and the prompts in each)."""
    from thinkact.evaluate import generation
    from thinkact.train import prefix_grpo

    calls = []
    real = generation.prefill_prefixes

    def counting(model, prefixes, pad_id=0):
        calls.append(len(prefixes))
        return real(model, prefixes, pad_id)

    monkeypatch.setattr(prefix_grpo, "prefill_prefixes", counting)
    monkeypatch.setattr(generation, "prefill_prefixes", counting)
    return calls


@contextmanager
def trl_path(trainer):
    """TRL's own rollouts and log-probs on this trainer (as after a fallback)."""
    before = dict(trainer._fallback)
    trainer._fallback.update({"rollouts": "test", "log-probs": "test"})
    try:
        yield
    finally:
        trainer._fallback = before


def grads_of(model) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


def test_length_buckets():
    assert length_buckets([100, 300, 105, 112, 290, 500]) == [[0, 2, 3], [4, 1], [5]]
    assert length_buckets([7]) == [[0]]


def test_group_rows_ignores_padding_and_order():
    ids = torch.tensor([[0, 0, 5, 6], [7, 8, 9, 1], [0, 0, 5, 6], [0, 7, 8, 9]])
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 1, 1], [0, 1, 1, 1]])
    assert group_rows(ids, mask) == ([[5, 6], [7, 8, 9, 1], [7, 8, 9]], [0, 1, 0, 2])


@pytest.mark.parametrize("g", [2, 8])
def test_greedy_rollouts_equal_trl(peaked_dir, tmp_path, g, monkeypatch):
    trainer, tok = make_trainer(peaked_dir, tmp_path, g, generation_kwargs={"do_sample": False})
    rows, _ = batch(tok, g)
    calls = count_prefills(monkeypatch)
    ours, _ = trainer._generate_single_turn(rows, None, {}, g)
    theirs, _ = GRPOTrainer._generate_single_turn(trainer, rows, None, {}, g)
    assert trainer.uses_shared("rollouts") and calls[-1] == len({tuple(r) for r in rows})
    assert ours == theirs
    assert len({tuple(c) for c in ours}) > 1  # the outputs depend on the prompt


@pytest.mark.parametrize("g", [2, 8])
def test_logps_equal_trl(peaked_dir, tmp_path, g, monkeypatch):
    trainer, tok = make_trainer(peaked_dir, tmp_path, g)
    _, inputs = batch(tok, g, seed=1)
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    width = inputs["completion_ids"].size(1)
    model = trainer.model
    calls = count_prefills(monkeypatch)
    trainer._get_per_token_logps_and_entropies(model, ids, mask, width)  # its first-use check runs too
    calls.clear()
    ours, our_ent, _ = trainer._get_per_token_logps_and_entropies(model, ids, mask, width, compute_entropy=True)
    theirs, their_ent, _ = GRPOTrainer._get_per_token_logps_and_entropies(trainer, model, ids, mask, width,
                                                                         compute_entropy=True)
    assert sum(calls) == (4 if g == 2 else 2) and len(calls) > 1  # each distinct prompt once, in length buckets
    assert ours.shape == theirs.shape and theirs.abs().max() > 1
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    torch.testing.assert_close(our_ent, their_ent, atol=1e-5, rtol=0)
    # in micro-batches of 3 rows (groups split across them), as TRL chunks its old/ref passes
    chunked, _, _ = trainer._get_per_token_logps_and_entropies(model, ids, mask, width, batch_size=3)
    torch.testing.assert_close(chunked, theirs, atol=1e-5, rtol=0)


def loss_and_grads(trainer, inputs, trl: bool = False):
    """The loss and gradients of TRL's `_compute_loss` (all of TRL's path: `trl`), or ours."""
    trainer.model.zero_grad()
    if trl:
        with trl_path(trainer):
            loss = GRPOTrainer._compute_loss(trainer, trainer.model, inputs)
    else:
        loss = trainer._compute_loss(trainer.model, inputs)
    loss.backward()
    return loss.detach(), grads_of(trainer.model)


@pytest.mark.parametrize("g,loss_type", [(2, "dapo"), (8, "dapo"), (2, "grpo"), (8, "bnpo")])
def test_loss_and_gradients_equal_trl(peaked_dir, tmp_path, g, loss_type):
    trainer, tok = make_trainer(peaked_dir, tmp_path, g, loss_type=loss_type)
    _, inputs = batch(tok, g, seed=2)
    inputs["advantages"] = torch.randn(inputs["prompt_ids"].size(0), generator=torch.Generator().manual_seed(3))
    theirs, their_grads = loss_and_grads(trainer, inputs, trl=True)
    ours, our_grads = loss_and_grads(trainer, inputs)
    assert trainer.uses_shared("log-probs")
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    assert (our_grads - their_grads).norm() <= 1e-4 * their_grads.norm()
    assert their_grads.norm() > 0


def test_lora_with_a_kl_term_equals_trl(peaked_dir, tmp_path):
    """LoRA adapters, and beta > 0: the reference log-probs (the base model, adapters off) and
    the KL term; no completion is skipped."""
    from peft import LoraConfig

    trainer, tok = make_trainer(peaked_dir, tmp_path, 2, beta=0.1,
                                peft_config=LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    _, inputs = batch(tok, 2, seed=7)
    inputs["advantages"] = torch.randn(8, generator=torch.Generator().manual_seed(8)).masked_fill(
        torch.arange(8) < 2, 0.0)
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    width = inputs["completion_ids"].size(1)
    from trl.trainer.utils import use_adapter

    with torch.no_grad(), use_adapter(trainer.model, adapter_name=None):
        ref, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, width)
        with trl_path(trainer):
            their_ref, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, width)
    torch.testing.assert_close(ref, their_ref, atol=1e-5, rtol=0)
    inputs["ref_per_token_logps"] = ref
    trainer.model.base_model.model.model.layers[0].mlp.down_proj.lora_B.default.weight.data.normal_(0, 0.1)
    theirs, their_grads = loss_and_grads(trainer, inputs, trl=True)
    ours, our_grads = loss_and_grads(trainer, inputs)
    assert trainer.uses_shared("log-probs") and their_grads.norm() > 0
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    assert (our_grads - their_grads).norm() <= 1e-4 * their_grads.norm()


@pytest.mark.parametrize("g", [2, 8])
def test_tied_groups_skipped_with_the_same_loss(peaked_dir, tmp_path, g, monkeypatch):
    """A group whose advantages are all 0 runs no forward or backward; the loss, its
    normalisation and the gradients stay TRL's. With old log-probs given (several iterations
    per generation) too, and when every row is tied."""
    trainer, tok = make_trainer(peaked_dir, tmp_path, g)
    rows, inputs = batch(tok, g, seed=4)
    tied = torch.tensor([r == rows[0] for r in rows])
    inputs["advantages"] = torch.randn(len(rows), generator=torch.Generator().manual_seed(5)).masked_fill(tied, 0.0)
    seen = []
    real = SharedPrefixGRPOTrainer._shared_logps

    def spy(self, model, input_ids, *args):
        seen.append(input_ids.size(0))
        return real(self, model, input_ids, *args)

    monkeypatch.setattr(SharedPrefixGRPOTrainer, "_shared_logps", spy)
    theirs, their_grads = loss_and_grads(trainer, inputs, trl=True)
    ours, our_grads = loss_and_grads(trainer, inputs)
    assert seen[-1] == len(rows) - int(tied.sum())
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    assert (our_grads - their_grads).norm() <= 1e-4 * their_grads.norm()
    # old log-probs from a previous iteration: the ratio is no longer 1 on the rows computed
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    with torch.no_grad():
        old, _, _ = GRPOTrainer._get_per_token_logps_and_entropies(trainer, trainer.model, ids, mask,
                                                                   inputs["completion_ids"].size(1))
    inputs["old_per_token_logps"] = old + 0.1 * torch.randn(old.shape, generator=torch.Generator().manual_seed(6))
    theirs, their_grads = loss_and_grads(trainer, inputs, trl=True)
    ours, our_grads = loss_and_grads(trainer, inputs)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    assert (our_grads - their_grads).norm() <= 1e-4 * their_grads.norm()
    # every row tied: one row still runs, so every parameter gets its zero gradient
    inputs["advantages"] = torch.zeros(len(rows))
    ours, our_grads = loss_and_grads(trainer, inputs)
    assert seen[-1] == 1 and ours.item() == 0.0 and our_grads.abs().max() == 0
    assert len(our_grads) == sum(p.numel() for p in trainer.model.parameters())


def test_trains_and_logs_skipped_groups(tiny_model_dir, tmp_path):
    """Two training steps through TRL's loop; `skipped_groups` is logged beside TRL's metrics."""
    trainer, _ = make_trainer(tiny_model_dir, tmp_path, 2, max_steps=2, learning_rate=1e-3)
    trainer.train()
    logged = [r for r in trainer.state.log_history if "skipped_groups" in r]
    assert len(logged) == 2 and "frac_reward_zero_std" in logged[0]
    assert all(0 <= r["skipped_groups"] <= 4 for r in logged)


def test_falls_back_to_trl_with_one_warning(peaked_dir, tmp_path, monkeypatch):
    # a setting the shared rollout cannot reproduce: rollouts go to TRL, log-probs stay shared
    with pytest.warns(UserWarning, match="rollouts use TRL's own path.*repetition penalty"):
        trainer, _ = make_trainer(peaked_dir, tmp_path, 2, repetition_penalty=1.2)
    assert not trainer.uses_shared("rollouts") and trainer.uses_shared("log-probs")
    with pytest.warns(UserWarning, match="log-probs use TRL's own path.*gradient checkpointing"):
        trainer, _ = make_trainer(peaked_dir, tmp_path, 2, activation_checkpointing=True)
    # a model whose shared results differ from TRL's fails the first-use check
    from thinkact.train import prefix_grpo

    real = prefix_grpo.shared_prefix_logps
    monkeypatch.setattr(prefix_grpo, "shared_prefix_logps", lambda *a, **k: tuple(
        x + 1 if x is not None else None for x in real(*a, **k)))
    trainer, tok = make_trainer(peaked_dir, tmp_path, 2)
    _, inputs = batch(tok, 2)
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    width = inputs["completion_ids"].size(1)
    with pytest.warns(UserWarning, match="log-probs use TRL's own path.*first-use check"):
        ours, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, width)
    theirs, _, _ = GRPOTrainer._get_per_token_logps_and_entropies(trainer, trainer.model, ids, mask, width)
    torch.testing.assert_close(ours, theirs)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # warned once only
        trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, width)


def test_config_switch_picks_the_trainer(tiny_model_dir, turn_files, tmp_path):
    from thinkact.train.config import GRPOSettings, StageConfig
    from thinkact.train.grpo import build_grpo_trainer

    def build(**kw):
        cfg = StageConfig(stage="grpo", model=str(tiny_model_dir), data=str(turn_files["train"]), out=str(tmp_path),
                          train=GRPOSettings(**kw, trl={"max_steps": 1, "per_device_train_batch_size": 4,
                                                        "num_generations": 4}))
        return build_grpo_trainer(cfg, str(tmp_path / "out"))

    assert GRPOSettings().shared_prefix is True
    assert isinstance(build(), SharedPrefixGRPOTrainer)
    plain = build(shared_prefix=False)
    assert type(plain) is GRPOTrainer


def test_an_unsupported_model_falls_back_whole_with_one_warning(peaked_dir, tmp_path, monkeypatch):
    trainer, _ = make_trainer(peaked_dir, tmp_path, 2)
    assert trainer._unsupported_model() is None
    trainer.model.config.sliding_window, trainer.model.config.use_sliding_window = 16, True
    assert trainer._unsupported_model() == "sliding-window attention"
    monkeypatch.setattr(SharedPrefixGRPOTrainer, "_unsupported_model", lambda self: "an encoder-decoder model")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer, _ = make_trainer(peaked_dir, tmp_path, 2)
    ours = [str(w.message) for w in caught if "shared-prefix" in str(w.message)]
    assert ours == ["shared-prefix GRPO: rollouts and log-probs use TRL's own path (an encoder-decoder model)"]
    assert not trainer.uses_shared("rollouts") and not trainer.uses_shared("log-probs")
