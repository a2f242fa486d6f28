"""The three stages on a tiny random model: outputs, logs, resumption, and what the reward sees."""

import json

import pytest
import yaml
from transformers import TrainerCallback

from thinkact.chat import build_completion
from thinkact.models import load_model_and_tokenizer, load_tokenizer
from thinkact.schema import DataError, read_turns
from thinkact.train.config import ColdstartSettings, GRPOSettings, LoraSettings, SFTSettings, StageConfig
from thinkact.train.datasets import grpo_dataset, sft_dataset
from thinkact.train.grpo import reward_funcs
from thinkact.train.stage import last_checkpoint, train_stage

from conftest import make_samples

pytestmark = pytest.mark.slow


def log_rows(stage_dir):
    return [json.loads(line) for line in (stage_dir / "train_log.jsonl").read_text().splitlines()]


# two steps of four samples, each step logged
SHORT = {"max_steps": 2, "per_device_train_batch_size": 4, "logging_steps": 1}


def test_three_stages_chain_and_log(tmp_path, tiny_model_dir, turn_files):
    sft = train_stage(StageConfig(stage="sft", model=str(tiny_model_dir), data=str(turn_files["train"]),
                                  out=str(tmp_path / "sft"), train=SFTSettings(trl=SHORT)))
    cold = train_stage(StageConfig(stage="coldstart", model=str(sft), data=str(turn_files["coldstart"]),
                                   out=str(tmp_path / "coldstart"), train=ColdstartSettings(trl=SHORT)))
    grpo = train_stage(StageConfig(stage="grpo", model=str(cold), data=str(turn_files["train"]),
                                   out=str(tmp_path / "grpo"),
                                   train=GRPOSettings(trl={**SHORT, "num_generations": 4, "max_completion_length": 12,
                                                           "learning_rate": 1e-4})))
    for stage, model in (("sft", sft), ("coldstart", cold), ("grpo", grpo)):
        assert model == tmp_path / stage / "model"
        assert (model / "model.safetensors").is_file() and (model / "tokenizer_config.json").is_file()
        saved = yaml.safe_load((model / "config.yaml").read_text())
        assert saved["stage"] == stage and saved["train"]["trl"]["max_steps"] == 2
        assert not list((tmp_path / stage).glob("checkpoint-*"))  # removed once the model is safe
        steps = [r["step"] for r in log_rows(tmp_path / stage) if "loss" in r]
        assert steps == [1, 2]
    rows = [r for r in log_rows(tmp_path / "grpo") if "reward" in r]
    for key in ("reward", "reward_std", "frac_reward_zero_std", "completions/mean_length",
                "rewards/format/mean", "rewards/decision/mean", "rewards/efficiency/mean", "reasoning_length"):
        assert key in rows[0], key
    # the saved model loads with generation ending at the end-of-turn token
    model, tok = load_model_and_tokenizer(str(grpo))
    assert model.generation_config.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    # a finished stage is not trained again
    before = (tmp_path / "sft" / "train_log.jsonl").read_text()
    again = train_stage(StageConfig(stage="sft", model=str(tiny_model_dir), data=str(turn_files["train"]),
                                    out=str(tmp_path / "sft"), train=SFTSettings(trl=SHORT)))
    assert again == sft and (tmp_path / "sft" / "train_log.jsonl").read_text() == before


class Crash(TrainerCallback):
    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == 3:  # step 3 is done and logged, its checkpoint not yet written
            raise KeyboardInterrupt("killed")


def test_killed_stage_resumes_from_its_checkpoint(tmp_path, tiny_model_dir, turn_files, monkeypatch):
    from thinkact.train import sft as sft_module

    cfg = StageConfig(stage="sft", model=str(tiny_model_dir), data=str(turn_files["train"]),
                      out=str(tmp_path / "sft"),
                      train=SFTSettings(trl={"max_steps": 5, "per_device_train_batch_size": 2, "logging_steps": 1,
                                             "save_steps": 2}))
    build = sft_module.build_sft_trainer

    def crashing(cfg, out):
        trainer = build(cfg, out)
        trainer.add_callback(Crash())
        return trainer

    monkeypatch.setattr(sft_module, "build_sft_trainer", crashing)
    with pytest.raises(KeyboardInterrupt):
        train_stage(cfg)
    ckpt, step = last_checkpoint(tmp_path / "sft")
    assert step == 2 and ckpt.endswith("checkpoint-2")
    assert max(r["step"] for r in log_rows(tmp_path / "sft")) == 3  # logged past the checkpoint
    # a changed config is refused; the same one resumes
    other = cfg.model_copy(update={"train": cfg.train.with_trl(learning_rate=1e-3)})
    with pytest.raises(DataError, match="other settings"):
        train_stage(other)
    monkeypatch.setattr(sft_module, "build_sft_trainer", build)
    train_stage(cfg)
    steps = [r["step"] for r in log_rows(tmp_path / "sft") if "loss" in r]
    assert steps == [1, 2, 3, 4, 5]  # step 3 re-run once, not logged twice


def test_completion_only_loss_and_datasets(tiny_model_dir):
    tok = load_tokenizer(str(tiny_model_dir))
    samples = make_samples(4, reasoning=True)
    ds, dropped = sft_dataset(samples, tok, think=True)
    assert dropped == 0 and set(ds.column_names) == {"id", "prompt", "completion"}
    assert ds[0]["prompt"].endswith("<|im_start|>assistant\n")
    assert ds[0]["completion"] == build_completion(samples[0].target, think=True, eos="<|im_end|>")
    assert ds[0]["completion"].startswith("<think>\nThe user asks")
    lengths = [len(tok(r["prompt"] + r["completion"])["input_ids"]) for r in ds]
    limit = min(lengths) + (max(lengths) - min(lengths)) // 2  # the reply turns carry a longer context
    short, dropped = sft_dataset(samples, tok, think=True, max_length=limit)
    assert dropped == sum(n > limit for n in lengths) > 0 and len(short) == 4 - dropped
    with pytest.raises(DataError, match="max_length"):
        sft_dataset(samples, tok, think=False, max_length=5)
    g, _ = grpo_dataset(samples, tok)
    assert set(g.column_names) == {"id", "prompt", "target", "tools", "tool_results"}
    assert json.loads(g[0]["target"])["kind"] == "tool_call" and json.loads(g[0]["tools"])[0]["name"] == "get_order"
    # the reply turn's context holds the get_order result its reply must not repeat
    assert json.loads(g[1]["tool_results"]) == [samples[1].context[-1].content] and json.loads(g[0]["tool_results"]) == []


def test_reward_sees_grammar_tags_after_trl_decoding(tiny_model_dir):
    """TRL decodes completions with skip_special_tokens=True: the tags must survive it."""
    tok = load_tokenizer(str(tiny_model_dir))
    sample = make_samples(1, reasoning=True)[0]
    text = build_completion(sample.target, think=True, eos=tok.eos_token)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    decoded = tok.decode(ids, skip_special_tokens=True)
    assert "<tool_call>" in decoded and "<think>" in decoded and "<|im_end|>" not in decoded
    g, _ = grpo_dataset([sample], tok)
    funcs, weights = reward_funcs(GRPOSettings(trl={"per_device_train_batch_size": 8, "num_generations": 8}))
    logged = {}
    kwargs = {"prompts": [g[0]["prompt"]], "completions": [decoded], "target": [g[0]["target"]],
              "tools": [g[0]["tools"]], "log_metric": logged.__setitem__}
    total = sum(w * f(**kwargs)[0] for f, w in zip(funcs, weights) if f(**kwargs)[0] is not None)
    assert total == pytest.approx(1.0)  # the gold action, decoded as TRL does, scores full marks
    assert logged["reasoning_length"] == len(sample.target.reasoning.split())
    assert [f.__name__ for f in funcs] == ["format", "decision", "tool", "answer", "efficiency"]


def test_coldstart_mix_adds_training_turns_in_each_render_style(tmp_path, turn_files, tiny_model_dir):
    from thinkact.chat import build_prompt
    from thinkact.train.sft import mixed_turns

    mixed = mixed_turns(str(turn_files["coldstart"]), 3, seed=0)
    assert len(mixed) == 3 and all(t.target.reasoning is None for t in mixed)
    assert [t.id for t in mixed] == [t.id for t in mixed_turns(str(turn_files["coldstart"]), 3, seed=0)]
    tok = load_tokenizer(str(tiny_model_dir))
    prompts = [build_prompt(tok, t) for t in mixed]
    ds, _ = sft_dataset(mixed, tok, think=["think", "action", "after_think"])
    assert ds[0]["prompt"] == prompts[0] and ds[0]["completion"].startswith("<think>\n\n</think>\n\n")
    assert ds[1]["prompt"] == prompts[1] and not ds[1]["completion"].startswith("<think>")
    # thinking switched off as Qwen3 does it: the empty block closes the prompt, not the completion
    assert ds[2]["prompt"] == prompts[2] + "<think>\n\n</think>\n\n" and not ds[2]["completion"].startswith("<think>")
    with pytest.raises(ValueError, match="unknown render style"):
        sft_dataset(mixed, tok, think=["think", "action", "nothink"])
    cfg = StageConfig(stage="coldstart", model=str(tiny_model_dir), data=str(turn_files["coldstart"]),
                      out=str(tmp_path / "cs"), train=ColdstartSettings(mix=4, trl={"max_steps": 1}))
    with pytest.raises(DataError, match="needs mix_data"):
        train_stage(cfg)


def test_reasoning_cut_to_its_first_sentences(turn_files):
    from thinkact.train.sft import first_sentences, shorten_reasoning

    text = "The user wants a refund of $12.50 on order AB1. Policy: within 30 days! So I ask. Fine?"
    assert first_sentences(text, 1) == "The user wants a refund of $12.50 on order AB1."
    assert first_sentences(text, 2) == "The user wants a refund of $12.50 on order AB1. Policy: within 30 days!"
    assert first_sentences(text, 9) == text
    samples = read_turns(turn_files["coldstart"])
    short = shorten_reasoning(samples, 1)
    assert [t.id for t in short] == [t.id for t in samples]
    for before, after in zip(samples, short):
        assert after.target.tool_calls == before.target.tool_calls and after.target.content == before.target.content
        if before.target.reasoning:
            assert before.target.reasoning.startswith(after.target.reasoning)
            assert after.target.reasoning.count(". ") == 0
    long = samples[0].model_copy(update={"target": samples[0].target.model_copy(update={"reasoning": text})})
    assert shorten_reasoning([long], 1)[0].target.reasoning == "The user wants a refund of $12.50 on order AB1."


def test_group_by_length_batches_pad_less(tmp_path, turn_files, tiny_model_dir):
    from thinkact.train.sft import build_sft_trainer

    def padding_share(group: bool) -> float:
        cfg = StageConfig(stage="sft", model=str(tiny_model_dir), data=str(turn_files["train"]),
                          out=str(tmp_path / f"g{group}"),
                          train=SFTSettings(group_by_length=group,
                                            trl={"per_device_train_batch_size": 4, "max_steps": 1}))
        trainer = build_sft_trainer(cfg, str(tmp_path / f"g{group}"))
        pad = real = 0
        for batch in trainer.get_train_dataloader():
            mask = batch["attention_mask"]
            real += int(mask.sum())
            pad += mask.numel() - int(mask.sum())
        return pad / (pad + real)

    grouped, shuffled = padding_share(True), padding_share(False)
    assert grouped < shuffled


def test_bucketed_batches_are_similar_in_length_and_in_random_order():
    import random

    from thinkact.train.sft import bucketed_batches

    rng = random.Random(0)
    lengths = [rng.randint(100, 1200) for _ in range(1610)]
    order = bucketed_batches(lengths, 16, seed=0, window=24)
    assert sorted(order) == list(range(1610))  # every sample once
    batches = [order[i:i + 16] for i in range(0, len(order), 16)]
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 100  # random batches spread over ~1,000 tokens
    # no walk from long to short: consecutive batches get shorter about half the time
    means = [sum(lengths[i] for i in b) / len(b) for b in batches[:-1]]
    shorter = sum(b < a for a, b in zip(means, means[1:])) / (len(means) - 1)
    assert 0.3 < shorter < 0.7
    assert order != bucketed_batches(lengths, 16, seed=1, window=24)


def bench_turns(n: int, seed: int = 3):
    from thinkact.bench.generator import generate_conversation
    from thinkact.bench.simulator import sample_goals
    from thinkact.data.turns import make_turns

    return make_turns([generate_conversation(g)[0] for g in sample_goals("train", n, seed)], keep_reasoning=False)


@pytest.mark.parametrize("template", ["compact_tools", None])  # the recipe's and the tokenizer's own
def test_merged_rows_train_every_action_on_the_tokens_evaluation_gives(template):
    """Base SFT's form: every action after an empty think block, and earlier actions rendered
    the same way in later prompts, so a conversation's turns extend each other."""
    from thinkact.chat import build_prompt

    tok = load_tokenizer("quickstart", template)
    samples = bench_turns(6)
    by_id = {s.id: s for s in samples}
    style = ["empty_think"] * len(samples)
    merged, dropped = sft_dataset(samples, tok, think=style, merge=True)
    assert dropped == 0 and len(merged) == len({s.conversation_id for s in samples}) < len(samples)
    seen = []
    for row in merged:
        members = [by_id[i] for i in row["id"].split(",")]
        seen += [m.id for m in members]
        ids, mask = row["input_ids"], row["completion_mask"]
        # the loss covers exactly the member turns' actions, in order
        completions = [build_completion(m.target, think=True, eos=tok.eos_token) for m in members]
        assert all(c.startswith("<think>\n\n</think>\n\n") for c in completions)
        assert tok.decode([t for t, k in zip(ids, mask) if k]) == "".join(completions)
        for m in members:  # each turn's prompt, as evaluation tokenizes it, is a prefix of the row
            prompt_ids = tok(build_prompt(tok, m), add_special_tokens=False)["input_ids"]
            assert ids[:len(prompt_ids)] == prompt_ids and mask[len(prompt_ids) - 1] == 0
    assert sorted(seen) == sorted(by_id)  # every turn once, none lost

    # a max_length leaves out the same turns as per-turn rows do: a conversation's prompts only
    # grow, so its turns that fit are its first ones, and they stay one row within the limit
    longest = max(len(r) for r in merged["input_ids"])
    limit = longest - 50
    cut, dropped = sft_dataset(samples, tok, think=style, merge=True, max_length=limit)
    per_turn, dropped_alone = sft_dataset(samples, tok, think=style, max_length=limit)
    assert dropped == dropped_alone > 0 and len(cut) == len(merged)
    assert max(len(r) for r in cut["input_ids"]) <= limit
    assert sorted(i for r in cut["id"] for i in r.split(",")) == sorted(per_turn["id"])


def test_empty_think_drops_reasoning_and_base_sft_uses_it(tmp_path, turn_files, tiny_model_dir):
    """Base SFT renders every action after an empty think block, reasoning or not; the
    action-alone form stays available for templates that know no think block."""
    from thinkact.train.datasets import sft_row

    tok = load_tokenizer("quickstart", "compact_tools")
    sample = bench_turns(1)[0]
    sample = sample.model_copy(update={"target": sample.target.model_copy(update={"reasoning": "Check first."})})
    row = sft_row(sample, tok, "empty_think")
    assert row["completion"].startswith("<think>\n\n</think>\n\n") and "Check first" not in row["completion"]
    assert not sft_row(sample, tok, "action")["completion"].startswith("<think>")

    from thinkact.train.sft import build_sft_trainer

    cfg = StageConfig(stage="sft", model=str(tiny_model_dir), data=str(turn_files["train"]),
                      out=str(tmp_path / "sft"), train=SFTSettings(trl={"max_steps": 1}))
    assert cfg.train.empty_think is True  # the default
    trainer = build_sft_trainer(cfg, str(tmp_path / "sft"))
    first = trainer.train_dataset[0]
    assert first["completion"].startswith("<think>\n\n</think>\n\n")


def test_turns_with_reasoning_do_not_merge():
    """Earlier turns' reasoning is not in later prompts, so no prompt extends a think completion."""
    tok = load_tokenizer("quickstart", "compact_tools")
    samples = bench_turns(2)
    samples = [s.model_copy(update={"target": s.target.model_copy(update={"reasoning": "Check first."})})
               for s in samples]
    merged, _ = sft_dataset(samples, tok, think=True, merge=True)
    assert len(merged) == len(samples)


def test_right_padded_batches_train_without_the_padding_mask(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    from thinkact.train.sft import causal_mask_only

    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    hooked = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    causal_mask_only(hooked)
    seen = []
    hooked.base_model.register_forward_pre_hook(
        lambda m, a, kw: seen.append(kw.get("attention_mask")), with_kwargs=True)
    torch.manual_seed(0)
    ids = torch.randint(10, 200, (2, 12))
    right = torch.ones(2, 12, dtype=torch.long)
    right[1, 7:] = 0
    left = torch.ones(2, 12, dtype=torch.long)
    left[1, :5] = 0
    for model in (plain, hooked):
        model.train()
    for mask, dropped in ((right, True), (left, False)):
        seen.clear()
        want = plain(input_ids=ids, attention_mask=mask).logits
        got = hooked(input_ids=ids, attention_mask=mask).logits
        assert (seen[0] is None) == dropped
        real = mask.bool()
        assert torch.allclose(got[real], want[real], atol=1e-5)
    hooked.eval()
    seen.clear()
    hooked(input_ids=ids, attention_mask=right)
    assert seen[0] is not None  # outside training the mask always stays


def test_replay_learns_actions_after_the_models_own_reasoning(tmp_path, turn_files, tiny_model_dir, monkeypatch):
    """Cold-start replay: training turns carry reasoning a first pass wrote; their actions are
    learned after it (loss on the action), and those it got right are learned whole (STaR)."""
    from thinkact.schema import write_jsonl
    from thinkact.train.datasets import sft_row
    from thinkact.train.sft import REPLAY, build_sft_trainer

    tok = load_tokenizer(str(tiny_model_dir))
    sample = make_samples(1, reasoning=True)[0]
    row = sft_row(sample, tok, "after_reasoning")
    assert row["prompt"].endswith(f"<think>\n{sample.target.reasoning}\n</think>\n\n")
    assert not row["completion"].startswith("<think>") and row["completion"].endswith("<|im_end|>")

    out = tmp_path / "cs"
    cfg = StageConfig(stage="coldstart", model=str(tiny_model_dir), data=str(turn_files["coldstart"]),
                      mix_data=str(turn_files["train"]), out=str(out),
                      train=ColdstartSettings(replay=3, replay_tokens=8,
                                              trl={"max_steps": 1, "per_device_train_batch_size": 4}))
    trainer = build_sft_trainer(cfg, str(out))
    replayed = read_turns(out / REPLAY)
    train_ids = {t.id for t in read_turns(turn_files["train"])}
    assert len(replayed) == 3 and {t.id for t in replayed} <= train_ids
    assert all("replay_right" in t.meta for t in replayed)
    assert len(trainer.train_dataset) == 4 + 3  # the reasoning set and the replayed turns

    # A resumed stage reuses the written turns (no second pass); a turn the first pass got right
    # is learned whole, its reasoning included, the others after their reasoning.
    right = replayed[0].model_copy(update={
        "target": replayed[0].target.model_copy(update={"reasoning": "Known: order W1000."}),
        "meta": {**replayed[0].meta, "replay_right": True}})
    wrong = replayed[1].model_copy(update={
        "target": replayed[1].target.model_copy(update={"reasoning": "Known: nothing yet."}),
        "meta": {**replayed[1].meta, "replay_right": False}})
    write_jsonl(out / REPLAY, [right, wrong])
    monkeypatch.setattr("thinkact.evaluate.generation.HFGenerator.generate",
                        lambda *a, **k: pytest.fail("the replay turns were generated again"))
    data = build_sft_trainer(cfg, str(out)).train_dataset
    rows = {r["id"]: r for r in data}
    assert rows[right.id]["completion"].startswith("<think>\nKnown: order W1000.\n</think>")
    assert rows[wrong.id]["prompt"].endswith("<think>\nKnown: nothing yet.\n</think>\n\n")
    assert not rows[wrong.id]["completion"].startswith("<think>")


def length_reward(completions, **kwargs):
    """Rewards that differ within a group (a random model's completions score alike on the
    composite reward, which leaves GRPO nothing to learn from)."""
    return [float(len(c)) for c in completions]


LORA = LoraSettings(r=4, alpha=8, dropout=0.0)
LORA_TRL = {"max_steps": 2, "per_device_train_batch_size": 4, "learning_rate": 1e-2}
LORA_STAGES = {
    "sft": SFTSettings(lora=LORA, trl=LORA_TRL),
    # the replay's first pass trains with the stage's settings too, LoRA included
    "coldstart": ColdstartSettings(lora=LORA, replay=2, replay_tokens=8, trl=LORA_TRL),
    "grpo": GRPOSettings(lora=LORA, trl={**LORA_TRL, "num_generations": 4, "max_completion_length": 8}),
}


@pytest.mark.parametrize("stage", list(LORA_STAGES))
def test_lora_stage_saves_a_plain_merged_model(stage, tmp_path, tiny_model_dir, turn_files, monkeypatch, recwarn):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from thinkact.evaluate.runner import evaluate_model

    if stage == "grpo":
        monkeypatch.setattr("thinkact.train.grpo.reward_funcs", lambda settings: ([length_reward], [1.0]))
    data = turn_files["coldstart" if stage == "coldstart" else "train"]
    model_dir = train_stage(StageConfig(stage=stage, model=str(tiny_model_dir), data=str(data),
                                        mix_data=str(turn_files["train"]), out=str(tmp_path / stage),
                                        train=LORA_STAGES[stage]))
    assert not [w for w in recwarn if "shared-prefix" in str(w.message)]  # LoRA keeps GRPO's fast path
    if stage == "coldstart":
        from thinkact.train.sft import REPLAY

        assert len(read_turns(tmp_path / stage / REPLAY)) == 2  # written after the LoRA first pass

    # a plain model folder: no adapter files, no LoRA weights, loaded by transformers alone
    assert not list(model_dir.glob("adapter_*"))
    weights = load_file(model_dir / "model.safetensors")
    assert not [k for k in weights if "lora" in k or "base_layer" in k]
    model, info = AutoModelForCausalLM.from_pretrained(model_dir, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]

    # the adapter is in the weights: the projections LoRA targets changed, nothing else did
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, base[k])}
    assert changed and all(k.endswith("_proj.weight") for k in changed)

    scores = evaluate_model(str(model_dir), make_samples(4), out=tmp_path / "eval", batch_size=4,
                            max_new_tokens=8)
    assert scores["metrics"]["n_samples"] == 4
