from thinkact.bench.backend import database
from thinkact.bench.corpus import domain_text
from thinkact.grammar import GRAMMAR_TAGS


def test_corpus_is_deterministic_plain_text():
    a = list(domain_text(seed=3, n=400))
    assert a == list(domain_text(seed=3, n=400))
    assert len(a) == 400 and all(isinstance(t, str) and t.strip() for t in a)
    assert not any(tag in t for t in a for tag in GRAMMAR_TAGS)
    assert len(set(a)) > 250  # varied, not a handful of sentences repeated


def test_corpus_keeps_ood_flows_and_other_splits_out():
    text = "\n".join(domain_text(seed=0, n=1500))
    # Phrases that only the held-out procedures' flows produce.
    for ood_only in ("meal on reservation", "pause the subscription", "orders on an account", "on the account"):
        assert ood_only not in text
    test_ids = set(database("retail", "test", 0)["orders"]) | set(database("airline", "test", 0)["reservations"])
    assert not any(i in text for i in test_ids)
    train_ids = set(database("retail", "train", 0)["orders"])
    assert any(i in text for i in train_ids)


def test_corpus_can_draw_on_ood_when_asked():
    text = "\n".join(domain_text(seed=0, n=1500, splits=("train", "ood")))
    assert "meal on reservation" in text or "pause the subscription" in text
