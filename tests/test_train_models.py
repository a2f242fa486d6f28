from pathlib import Path

import pytest

from thinkact.chat import build_prompt
from thinkact.grammar import render_call
from thinkact.models import load_tokenizer, read_chat_template, resolve_model
from thinkact.schema import DataError

from conftest import make_samples


def test_chat_template_names_resolve(tmp_path):
    assert "Tools:" in read_chat_template("compact_tools")  # shipped with the recipes
    assert "<tool_call>" in read_chat_template("qwen2_5")  # one of TRL's
    f = tmp_path / "t.jinja"
    f.write_text("{{ messages[0].content }}")
    assert read_chat_template(str(f)) == "{{ messages[0].content }}"
    with pytest.raises(DataError, match="not found"):
        read_chat_template(str(tmp_path / "missing.jinja"))
    with pytest.raises(DataError, match="no chat template 'nope'"):
        read_chat_template("nope")
    assert resolve_model("some/hub-id") == "some/hub-id"


def test_compact_tool_list_changes_only_the_tool_list(tiny_model_dir):
    tok = load_tokenizer(str(tiny_model_dir))
    compact = load_tokenizer(str(tiny_model_dir), chat_template="compact_tools")
    sample = make_samples(2)[1]  # a reply turn after a call and its tool response
    tool = {"name": "cancel_order", "description": "Cancel an order.",
            "parameters": {"type": "object", "required": ["order_id"], "properties": {
                "order_id": {"type": "string"}, "reason": {"type": "string", "enum": ["late", "mistake"]},
                "count": {"type": "integer"}}}}
    sample = sample.model_copy(update={"tools": sample.tools + [tool]})
    full, short = build_prompt(tok, sample), build_prompt(compact, sample)
    assert "get_order(order_id) Look up an order by its id." in short
    assert "cancel_order(order_id, reason?: late|mistake, count?: integer) Cancel an order." in short
    assert len(compact(short)["input_ids"]) < len(tok(full)["input_ids"])
    # after the system turn, both render the conversation identically (calls as the grammar does)
    assert full[full.index("<|im_end|>"):] == short[short.index("<|im_end|>"):]
    assert render_call(sample.context[1].tool_calls[0]) in short


def test_tokenizer_gets_grammar_tags_as_plain_added_tokens(tmp_path, tiny_tokenizer, tiny_model_dir):
    import json
    import shutil

    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    spec = json.loads(tiny_tokenizer.backend_tokenizer.to_str())
    spec["added_tokens"] = [t for t in spec["added_tokens"] if not t["content"].startswith(("<think", "</think",
                                                                                          "<tool", "</tool"))]
    bare = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)), eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", chat_template=tiny_tokenizer.chat_template)
    assert "<tool_call>" not in bare.get_vocab()
    shutil.copytree(tiny_model_dir, tmp_path / "model")  # a model whose tokenizer lacks the tags
    bare.save_pretrained(tmp_path / "model")
    tok = load_tokenizer(str(tmp_path / "model"))
    ids = tok("<tool_call>\n{}\n</tool_call>", add_special_tokens=False)["input_ids"]
    assert tok.convert_tokens_to_ids("<tool_call>") in ids
    assert tok.decode(ids, skip_special_tokens=True).startswith("<tool_call>")


def test_model_names_resolve_to_presets_folders_or_hub_ids(tmp_path, tiny_model_dir):
    assert (Path(resolve_model("quickstart")) / "config.json").is_file()
    assert resolve_model(str(tiny_model_dir)) == str(tiny_model_dir)
    assert resolve_model("Qwen/Qwen3-0.6B") == "Qwen/Qwen3-0.6B"  # not a local path: a hub id
    with pytest.raises(DataError, match="no such folder: runs/q/stages/sft/model"):
        resolve_model("runs/q/stages/sft/model")  # cannot be a hub id
    with pytest.raises(DataError, match="not a model folder"):
        resolve_model(str(tmp_path))


@pytest.mark.parametrize("wrong", ["missing", "not a model"])
def test_a_wrong_model_is_one_line_from_each_command(wrong, tmp_path, turn_files):
    import yaml
    from typer.testing import CliRunner

    from thinkact.cli import app

    folder = tmp_path / "runs" / "sft"
    if wrong == "missing":
        expected = f"error: no such folder: {folder}"
    else:
        folder.mkdir(parents=True)
        (folder / "train_log.jsonl").write_text("")
        expected = f"error: not a model folder (no config.json): {folder}"
    config = tmp_path / "sft.yaml"
    config.write_text(yaml.safe_dump({"stage": "sft", "model": str(folder), "data": str(turn_files["train"]),
                                      "out": str(tmp_path / "stage"), "train": {"trl": {"max_steps": 1}}}))
    eval_args = ["--data", str(turn_files["train"]), "--out", str(tmp_path / "s.json")]
    for args in (["eval", "--model", str(folder), *eval_args],
                 ["train", "sft", "--config", str(config)],
                 ["probe", "--model", str(folder)]):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 1 and r.output.strip().splitlines() == [expected], (args, r.output)


def test_evaluation_loads_a_model_as_shipped_and_training_adds_the_tags(tmp_path, tiny_tokenizer, tiny_model_dir):
    import json
    import shutil

    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

    from thinkact.grammar import GRAMMAR_TAGS
    from thinkact.models import load_for_inference, load_model_and_tokenizer

    # a model whose tokenizer lacks the grammar's tags, as an off-the-shelf model's does
    spec = json.loads(tiny_tokenizer.backend_tokenizer.to_str())
    spec["added_tokens"] = [t for t in spec["added_tokens"] if t["content"] not in GRAMMAR_TAGS]
    bare = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)), eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", chat_template=tiny_tokenizer.chat_template)
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    bare.save_pretrained(folder)
    shipped_tok = AutoTokenizer.from_pretrained(folder)
    shipped = AutoModelForCausalLM.from_pretrained(folder).get_input_embeddings().weight.detach().clone()

    model, tok = load_for_inference(str(folder))
    assert len(tok) == len(shipped_tok) and tok.get_vocab() == shipped_tok.get_vocab()
    assert not any(tag in tok.get_vocab() for tag in GRAMMAR_TAGS)
    assert torch.equal(model.get_input_embeddings().weight.detach().cpu(), shipped)

    trained, ttok = load_model_and_tokenizer(str(folder))
    assert all(tag in ttok.get_vocab() for tag in GRAMMAR_TAGS) and len(ttok) == len(shipped_tok) + len(GRAMMAR_TAGS)
    assert trained.get_input_embeddings().weight.shape[0] >= len(ttok)
