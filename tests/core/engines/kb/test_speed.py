"""What makes a knowledge-base lookup fast: the question cut and cached, vectorized BM25, the lexical fast path."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.engine import Conversation
from core.engines.bm25 import BM25Index
from core.engines.kb.embedders import DEFAULT_MAX_QUERY_TOKENS, E5Embedder, load_embedder, truncate_to_tokens
from core.engines.kb.engine import KnowledgeBaseEngine
from core.engines.kb.evaluate import LabelledQuestion, LabelledSet, calibrate_fast, report, score_set
from core.engines.kb.index import KbItem, KnowledgeIndex
from core.engines.kb.source import read_calibration
from core.engines.kb.unanswered import UnansweredLog
from core.engines.tokens import match_tokens

ROOT = Path(__file__).resolve().parents[4]
KB = ROOT / "examples" / "support_faq.yaml"

ITEMS = [
    KbItem("refund", "faq", "refund", "Refunds take 5 days.", ("How do I get a refund?", "money back")),
    KbItem("password", "faq", "password", "Use the reset link.", ("How do I reset my password?", "忘记密码")),
    KbItem("hours", "faq", "hours", "9 to 5, Monday to Friday.", ("When are you open?",)),
]


class CountingE5(E5Embedder):
    """The real e5 embedder, counting the texts it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded: list[str] = []

    def _embed(self, texts: list[str], query: bool) -> np.ndarray:
        self.embedded.extend(texts)
        return super()._embed(texts, query)


def test_truncate_keeps_whole_words_and_cuts_cjk_by_character() -> None:
    e5 = load_embedder("e5")
    assert e5 is not None
    long = "my order arrived broken and " * 20 + "can I get a refund"
    cut = truncate_to_tokens(long, 32, e5.token_count)
    assert long.startswith(cut) and e5.token_count(cut) <= 32 < e5.token_count(cut + " my order")
    assert cut.split() == long.split()[: len(cut.split())]  # whole words
    chinese = "我的订单到了但是东西坏了" * 10
    cut_zh = truncate_to_tokens(chinese, 16, e5.token_count)
    assert chinese.startswith(cut_zh) and 0 < e5.token_count(cut_zh) <= 16
    assert truncate_to_tokens("reset pw pls", 32, e5.token_count) == "reset pw pls"


def test_a_long_question_costs_no_more_than_its_first_32_tokens() -> None:
    e5 = CountingE5()
    long = "hello, I bought the tablet from you last month and since yesterday it does not turn on at all " * 5
    vector = e5.embed_question(long)
    assert e5.token_count(e5.embedded[0]) <= DEFAULT_MAX_QUERY_TOKENS < e5.token_count(long)
    assert np.allclose(vector, e5.embed([e5.embedded[0]], query=True)[0], atol=1e-6)


def test_a_repeated_question_is_served_from_the_cache() -> None:
    e5 = CountingE5()
    first = e5.embed_question("how do I get a refund")
    again = e5.embed_question("how do I get a refund")
    assert e5.embedded == ["how do I get a refund"] and e5.cache_hits == 1
    assert again is first and not again.flags.writeable
    e5.cache_size = 2
    for q in ("a", "b", "c"):
        e5.embed_question(q)
    e5.embed_question("how do I get a refund")  # pushed out by three newer questions: embedded again
    assert e5.embedded.count("how do I get a refund") == 2


def test_bm25_scores_match_search() -> None:
    docs = [match_tokens(t) for t in ("reset my password", "refund my order", "password reset link", "opening hours")]
    index = BM25Index(docs)
    query = match_tokens("password reset")
    scores = index.scores(query)
    assert scores.shape == (4,)
    assert [(d, round(s, 9)) for d, s in index.search(query, top=4)] == [
        (int(d), round(float(scores[d]), 9)) for d in np.lexsort((np.arange(4), -scores)) if scores[d] > 0
    ]


def test_the_lexical_fast_path_answers_without_embedding_the_question() -> None:
    e5 = CountingE5()
    index = KnowledgeIndex(ITEMS, e5, weight=0.9, fast_lexical=0.5)
    index.build(progress=False)
    e5.embedded.clear()
    hits = index.search("How do I reset my password?")
    assert hits[0].fast and hits[0].item.id == "password" and e5.embedded == []
    assert all(h.lexical >= 0.5 for h in hits)
    paraphrase = index.search("I forgot my login secret")  # little word overlap: embedded
    assert not paraphrase[0].fast and e5.embedded == ["I forgot my login secret"]
    index.fast_lexical = None
    assert not index.search("How do I reset my password?")[0].fast


def test_calibrate_fast_stays_above_every_wrong_lexical_answer() -> None:
    index = KnowledgeIndex(ITEMS, load_embedder("e5"), weight=0.9)
    index.build(progress=False)
    labelled = LabelledSet(
        in_scope=[
            LabelledQuestion(q="How do I reset my password?", expect=["password"]),  # lexical 1.0, right
            LabelledQuestion(q="money back please", expect=["refund"]),
            LabelledQuestion(q="password reset desk opening hours", expect=["hours"]),  # lexically "password": wrong
        ],
        out_of_scope=["what's the weather", "reset the router"],
    )
    scored = score_set(index, labelled, progress=False)
    level = calibrate_fast(index, scored)
    assert level is not None
    lexical_best = [(index.rank(rows, 0.0, top=1)[0].item.id in lq.expect, float(rows.lexical.max())) for lq, rows in scored.inside]
    lexical_best += [(False, float(rows.lexical.max())) for _, rows in scored.outside]
    assert not lexical_best[2][0]  # the trap is answered wrongly by BM25 alone
    assert all(right for right, score in lexical_best if score >= level)  # the fast path makes no mistake here
    assert max(score for right, score in lexical_best if not right) < level < 1.0
    result = report(index, scored, 0.9, 2.0, level)  # a threshold nothing reaches: only the fast path answers
    assert result.fast_share > 0 and result.in_scope_accuracy > 0 and result.out_of_scope_rejection == 1.0
    assert calibrate_fast(KnowledgeIndex(ITEMS, None), scored) is None  # BM25 alone: nothing to skip


async def test_the_engine_reads_the_calibrated_fast_path_and_answers_below_the_hybrid_threshold(tmp_path: Path) -> None:
    calibrated = read_calibration(KB.with_name("support_faq.calibration.json"), "e5")
    assert calibrated is not None and calibrated.fast_lexical is not None
    engine = KnowledgeBaseEngine(path=KB, unanswered=UnansweredLog(tmp_path / "u.jsonl"), cache_dir=tmp_path / "cache")
    await engine.start()
    assert engine.index is not None and engine.index.fast_lexical == calibrated.fast_lexical
    conversation = Conversation(text="what are the prices", chat_key="t:1")
    hits = await engine.lookup(conversation)
    assert hits[0].fast and hits[0].item.id == "pricing"
    answer = "".join([p async for p in engine.reply(conversation)])
    assert answer == hits[0].item.answer and conversation.citations == ["pricing"]
    off = KnowledgeBaseEngine(path=KB, cache_dir=tmp_path / "cache", fast_lexical=None)
    await off.start()
    assert off.index is not None and off.index.fast_lexical is None


def test_a_minilm_question_runs_on_one_torch_thread_and_leaves_the_caller_s_setting() -> None:
    import torch

    minilm = load_embedder("minilm")
    assert minilm is not None
    model = minilm._model  # type: ignore[attr-defined]
    seen: list[int] = []
    encode = model.encode

    def recording(*args: object, **kwargs: object) -> object:
        seen.append(torch.get_num_threads())
        return encode(*args, **kwargs)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    model.encode = recording
    try:
        one = minilm.embed(["how do I get a refund"], query=True)
        batch = minilm.embed(["how do I get a refund", "reset my password"], query=True)
    finally:
        del model.encode
        threads_after = torch.get_num_threads()
        torch.set_num_threads(before)
    assert seen == [1, 2] and threads_after == 2
    assert np.allclose(one[0], batch[0], atol=1e-5)
