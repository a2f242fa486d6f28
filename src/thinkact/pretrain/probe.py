"""The copy probe: can a model reproduce an unseen identifier stated earlier in its context?

Each probe context holds one or two identifiers (8-12 letters and digits, drawn from a random
stream of their own, so pretraining never saw them) among a few hundred tokens of filler, then
a cue for one of them. The copy is exact when the model's greedy choice is right at every
token of the identifier and at the token that closes it. With teacher forcing this is one
forward pass, and it is the same as greedy decoding: if every next-token choice along the
right path is right, greedy decoding walks that path.
"""

from __future__ import annotations

import random
import string
from typing import Any, Sequence

import torch

from thinkact.pretrain.corpus import copy_document

ALNUM = string.ascii_letters + string.digits


def probe_identifier(rng: random.Random) -> str:
    """8-12 letters and digits, at least one of each."""
    while True:
        s = "".join(rng.choices(ALNUM, k=rng.randint(8, 12)))
        if any(c.isdigit() for c in s) and any(c.isalpha() for c in s):
            return s


def probe_examples(n: int, seed: int, pool: Sequence[str], chars: int = 1000) -> list[list[tuple[str, bool]]]:
    """`n` probe documents, each with exactly one emphasised span (the identifier to copy)."""
    rng = random.Random(f"copy-probe:{seed}")
    out = []
    while len(out) < n:
        segs = copy_document(rng, pool, chars, make_id=probe_identifier)
        # keep the text up to the first cued identifier and the segment that closes it
        first = next(i for i, (_, emph) in enumerate(segs) if emph)
        out.append(segs[:first + 2])
    return out


def encode_segments(tokenizer: Any, segs: Sequence[tuple[str, bool]]) -> tuple[list[int], list[bool]]:
    """Token ids of the concatenated segments, and which ids come from emphasised segments."""
    encs = tokenizer.backend_tokenizer.encode_batch([t for t, _ in segs], add_special_tokens=False)
    ids: list[int] = []
    mask: list[bool] = []
    for enc, (_, emph) in zip(encs, segs):
        ids += enc.ids
        mask += [emph] * len(enc.ids)
    return ids, mask


@torch.no_grad()
def copy_probe(model: Any, tokenizer: Any, n: int = 200, seed: int = 0, batch_size: int = 16,
               pool: Sequence[str] | None = None) -> float:
    """Share of `n` probe contexts where the model copies the identifier exactly."""
    if pool is None:
        pool = probe_pool(seed)
    docs = probe_examples(n, seed, pool)
    was_training = model.training
    model.eval()
    hits = 0
    device = next(model.parameters()).device
    for start in range(0, len(docs), batch_size):
        rows = [encode_segments(tokenizer, d) for d in docs[start:start + batch_size]]
        width = max(len(ids) for ids, _ in rows)
        pad = tokenizer.pad_token_id
        x = torch.full((len(rows), width), pad, dtype=torch.long)
        for i, (ids, _) in enumerate(rows):
            x[i, :len(ids)] = torch.tensor(ids)  # right padding: a causal model ignores it
        pred = model(input_ids=x.to(device)).logits.argmax(-1).cpu()
        for i, (ids, mask) in enumerate(rows):
            first = mask.index(True)
            last = len(mask) - 1 - mask[::-1].index(True)
            check = range(first, min(last + 2, len(ids)))  # the identifier and its closer
            hits += all(pred[i, j - 1].item() == ids[j] for j in check)
    model.train(was_training)
    return hits / max(1, len(docs))


def probe_pool(seed: int, n: int = 2000) -> list[str]:
    """Filler text for the probe: the domains' text from a seed pretraining does not use."""
    from thinkact.pretrain.loop import domain_source
    return list(domain_source()(10_000_019 + seed, n))
