"""An episode as one token sequence: the model's tokens carry the loss, the environment's do not."""

import pytest

from thinkact.bench.agent import oracle_policy
from thinkact.bench.domains import DOMAINS
from thinkact.bench.simulator import sample_goals
from thinkact.chat import build_prompt, chat_tools, message_to_chat
from thinkact.evaluate.episodes import context_sample
from thinkact.grammar import render
from thinkact.models import load_tokenizer
from thinkact.schema import Message
from thinkact.train.grpo_episodes import EpisodeRollout
from thinkact.train.sampler import EpisodeSampler
from thinkact.train.transcript import TemplateError, Transcript, encode, env_suffix


class ScriptedSampler(EpisodeSampler):
    """The oracle's actions as the model's tokens (no model run): each action is the oracle's
    output rendered in the grammar, then the end-of-turn token."""

    def __init__(self, model, tokenizer, reasoning=None, **kw):
        super().__init__(model, tokenizer, max_new_tokens=kw.pop("max_new_tokens", 200), **kw)
        self.reasoning = reasoning
        self.oracles = {d.system: oracle_policy(name) for name, d in DOMAINS.items()}

    def _sample_rows(self, samples, rows):
        tokens = []
        for s in samples:
            target = self.oracles[s.system](s.context)
            text = render(target.model_copy(update={"reasoning": self.reasoning}), think=True)
            tokens.append(encode(self.tokenizer, text) + [self.end])
        return tokens, [[-0.5] * len(t) for t in tokens]


@pytest.fixture(scope="module")
def tok_model(tiny_model_dir):
    from thinkact.models import load_for_inference

    model, tok = load_for_inference(str(tiny_model_dir))
    return tok, model


def chatml(messages: list[Message]) -> str:
    """The environment's messages as ChatML writes them, written out here independently of the
    chat template: tool results in one user turn, a user message as its own turn."""
    out, tools = "", []
    for m in messages + [None]:
        if m is not None and m.role == "tool":
            tools.append(m.content)
            continue
        if tools:
            out += "<|im_start|>user" + "".join(f"\n<tool_response>\n{c}\n</tool_response>" for c in tools) + "<|im_end|>\n"
            tools = []
        if m is not None:
            out += f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n"
    return out


def play(tok, model, goals, reasoning=None):
    sampler = ScriptedSampler(model, tok, reasoning=reasoning)
    rollout = EpisodeRollout(goals, max_actions=20, max_new_tokens=200)
    prompts = [g.id for g in goals]
    episodes = rollout.play(sampler, prompts, trial=0)
    return [sampler.transcripts[k] for k in rollout.keys(prompts, 0)], episodes


def test_only_the_models_tokens_are_unmasked_exact_spans(tok_model):
    tok, model = tok_model
    goals = sample_goals("train", 8, seed=0)
    transcripts, episodes = play(tok, model, goals)
    saw_tool = saw_user_turn = False
    for t, e in zip(transcripts, episodes):
        assert e.result.success, e.result.failure
        messages = e.result.conversation.messages
        assert t.prompt_ids == encode(tok, build_prompt(tok, context_sample("x", e.goal.system, e.goal.tools,
                                                                            messages[:1])))
        # Expected completion, span by span: each action (mask 1) is the oracle's output and the
        # end-of-turn token; between actions (mask 0) the tail of the turn, the new messages and
        # the next generation prompt.
        ids, mask = [], []
        actions = [i for i, m in enumerate(messages) if m.role == "assistant"]
        for n, i in enumerate(actions):
            action = encode(tok, e.outputs[n]) + [tok.convert_tokens_to_ids("<|im_end|>")]
            ids += action
            mask += [1] * len(action)
            following = messages[i + 1:actions[n + 1]] if n + 1 < len(actions) else []
            if following:
                env = encode(tok, "\n" + chatml(following) + "<|im_start|>assistant\n")
                ids += env
                mask += [0] * len(env)
                saw_tool |= any(m.role == "tool" for m in following)
                saw_user_turn |= any(m.role == "user" for m in following)
        assert t.completion_ids == ids and t.env_mask == mask
        assert len(t.logprobs) == len(ids) and all((lp == 0.0) == (m == 0) for lp, m in zip(t.logprobs, mask))
        # The whole sequence is the conversation as the chat template renders it (the scripted
        # outputs have empty think blocks, as the template renders earlier actions).
        full = tok.apply_chat_template([{"role": "system", "content": e.goal.system}] +
                                       [message_to_chat(m) for m in messages], tools=chat_tools(e.goal.tools),
                                       tokenize=False)
        assert tok.decode(t.ids, skip_special_tokens=False) + "\n" == full
        assert len(t.outputs) == len(actions) == e.result.actions
    assert saw_tool and saw_user_turn


def test_reasoning_stays_in_the_sequence_and_carries_loss(tok_model):
    tok, model = tok_model
    transcripts, episodes = play(tok, model, sample_goals("train", 2, seed=1), reasoning="Known: the request.")
    for t, e in zip(transcripts, episodes):
        text = tok.decode([i for i, m in zip(t.completion_ids, t.env_mask) if m], skip_special_tokens=False)
        assert text.count("Known: the request.") == e.result.actions
        masked = tok.decode([i for i, m in zip(t.completion_ids, t.env_mask) if not m], skip_special_tokens=False)
        assert "Known" not in masked and "<tool_call>" not in masked


def test_a_cut_action_is_closed_by_an_environment_token():
    t = Transcript(prompt_ids=[5, 6])
    t.add_action([7, 8], [-1.0, -2.0], "cut", end=2)
    t.add_action([9, 2], [-1.0, -0.1], "ended")
    assert t.completion_ids == [7, 8, 2, 9, 2] and t.env_mask == [1, 1, 0, 1, 1]
    assert t.logprobs == [-1.0, -2.0, 0.0, -1.0, -0.1] and t.outputs == ["cut", "ended"]
    with pytest.raises(ValueError, match="log-probs"):
        t.add_action([1], [], "x")
    empty = Transcript(prompt_ids=[5])
    empty.finish(2)
    assert empty.completion_ids == [2] and empty.env_mask == [0]


def test_a_template_that_rewrites_the_past_is_refused(tiny_model_dir):
    tok = load_tokenizer(str(tiny_model_dir))
    # renders the number of messages at the top: a longer conversation does not extend a shorter one
    tok.chat_template = "{{ messages | length }}" + tok.chat_template
    goal = sample_goals("train", 1, seed=0)[0]
    context = [Message(role="user", content="hi"), Message(role="assistant", content="Hello!"),
               Message(role="user", content="I need help.")]
    with pytest.raises(TemplateError, match="start of the whole"):
        env_suffix(tok, context_sample("s", goal.system, goal.tools, context), 2)
    with pytest.raises(ValueError, match="last action"):
        env_suffix(load_tokenizer(str(tiny_model_dir)), context_sample("s", goal.system, goal.tools, context), 1)
