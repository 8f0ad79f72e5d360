"""Streaming sentence splitting."""

from __future__ import annotations

from tests.voice.conftest import chars
from voice.sentences import SentenceSplitter, ends_clause, split_sentences, stream_sentences

TEXT = (
    "Mr. Smith paid $29.99 for version 2.5 of it. Then he left! Was it worth it? "
    "Dr. J. R. Tolkien wrote e.g. books. 你好。今天天气很好！我们去公园吧？好的。"
)


def test_abbreviations_decimals_and_initials_stay_whole() -> None:
    assert split_sentences(TEXT, min_chars=0)[:5] == [
        "Mr. Smith paid $29.99 for version 2.5 of it.",
        "Then he left!",
        "Was it worth it?",
        "Dr. J. R. Tolkien wrote e.g. books.",
        "你好。",
    ]


def test_cjk_punctuation_splits_without_spaces() -> None:
    assert split_sentences("你好。今天天气很好！我们去公园吧？好的。", min_chars=0) == [
        "你好。",
        "今天天气很好！",
        "我们去公园吧？",
        "好的。",
    ]


def test_char_by_char_stream_matches_whole_text() -> None:
    splitter = SentenceSplitter()
    streamed = [s for ch in TEXT for s in splitter.feed(ch)] + splitter.flush()
    assert streamed == split_sentences(TEXT)
    assert "".join(streamed).replace(" ", "") == TEXT.replace(" ", "")


def test_boundary_waits_for_next_non_space_character() -> None:
    splitter = SentenceSplitter(min_chars=0)
    assert splitter.feed("It costs $29.") == []  # the next character decides
    assert splitter.feed("99 today.") == []  # "$29.99" was not cut
    assert splitter.feed("   ") == []  # spaces alone do not end it
    assert splitter.feed("N") == ["It costs $29.99 today."]
    assert splitter.flush() == ["N"]


def test_short_sentences_join_the_next() -> None:
    assert split_sentences("Hi. Ok. This is a longer sentence here. Yes.", min_chars=20) == [
        "Hi. Ok. This is a longer sentence here.",
        "Yes.",
    ]


def test_lowercase_after_period_is_not_a_boundary() -> None:
    assert split_sentences("It weighs approx. five kilos. Fine.", min_chars=0) == [
        "It weighs approx. five kilos.",
        "Fine.",
    ]


def test_runaway_sentence_is_cut_at_a_space() -> None:
    parts = split_sentences("word " * 300, min_chars=20, max_chars=100)
    assert all(len(p) <= 100 for p in parts) and len(parts) >= 14


async def test_stream_sentences_from_async_chars() -> None:
    got = [s async for s in stream_sentences(chars("One sentence here, friend. And another one!"))]
    assert got == ["One sentence here, friend.", "And another one!"]


def words(text: str) -> list[str]:
    """``text`` as a word-aligned stream: each piece after the first starts with its space."""
    parts = text.split(" ")
    return [parts[0]] + [f" {p}" for p in parts[1:]]


def test_word_aligned_stream_ends_a_sentence_without_waiting_for_the_next_piece() -> None:
    splitter = SentenceSplitter(min_chars=0)
    got = [splitter.feed(piece) for piece in words("Day one is calm today. Rain may come! Ok?")]
    assert got[4] == ["Day one is calm today."]  # at the piece " today.", not at " Rain"
    assert got[7] == ["Rain may come!"] and got[8] == ["Ok?"]
    assert splitter.flush() == []


def test_word_aligned_stream_still_waits_after_abbreviations_numbers_and_ellipses() -> None:
    splitter = SentenceSplitter(min_chars=0)
    fed = {piece: splitter.feed(piece) for piece in ["Ask", " Mr.", " Smith", " for", " $29.", "99", " now."]}
    assert fed[" Mr."] == [] and fed[" $29."] == []  # "$29." + "99" ends no sentence
    assert fed["99"] == []  # the stream is no longer word-aligned: the next character decides again
    assert splitter.feed(" Then") == ["Ask Mr. Smith for $29.99 now."]
    aligned = SentenceSplitter(min_chars=0)
    assert [s for p in words("Well... and so J. R. said yes. Fine") for s in aligned.feed(p)] == [
        "Well... and so J. R. said yes."
    ]


def test_character_stream_keeps_waiting_for_the_next_non_space() -> None:
    splitter = SentenceSplitter(min_chars=0)
    assert [s for ch in "It weighs approx. five kilos. " for s in splitter.feed(ch)] == []
    assert splitter.feed("F") == ["It weighs approx. five kilos."]


def test_first_sentence_is_cut_at_a_clause_then_later_sentences_keep_their_rules() -> None:
    splitter = SentenceSplitter(min_chars=20, first_chars=40)
    got = [s for p in words("Good morning, everyone here. Rain may come today. Ok. Then some more words here.")
           for s in splitter.feed(p)] + splitter.flush()
    assert got == ["Good morning,", "everyone here.", "Rain may come today.", "Ok. Then some more words here."]


def test_long_first_sentence_without_a_clause_is_cut_at_a_space() -> None:
    text = "The weather today looks very calm and quiet in the whole valley. Rain may come."
    got = split_sentences_streamed(text, first_chars=40)
    assert got[0] == "The weather today looks very calm,"  # within 40 characters, not after "and"
    assert got[1] == "and quiet in the whole valley."
    assert " ".join(got).replace(",", "") == text
    assert ends_clause(got[0]) and not ends_clause(got[1])


def test_first_sentence_is_never_held_back_to_join_the_next() -> None:
    assert split_sentences_streamed("Hi. How are you doing today?", first_chars=40) == ["Hi.", "How are you doing today?"]
    assert split_sentences("Hi. How are you doing today?") == ["Hi. How are you doing today?"]  # off: joined


def test_thousands_separator_is_not_a_clause_boundary() -> None:
    splitter = SentenceSplitter(min_chars=0, first_chars=60)
    assert [s for ch in "It costs 1,000,000 dollars in total" for s in splitter.feed(ch)] == []


def split_sentences_streamed(text: str, first_chars: int) -> list[str]:
    splitter = SentenceSplitter(first_chars=first_chars)
    return [s for p in words(text) for s in splitter.feed(p)] + splitter.flush()


def test_whole_text_first_sentence_is_cut_too_and_not_after_a_leaning_word() -> None:
    splitter = SentenceSplitter(first_chars=16)
    got = splitter.feed("Rain may come to the valley today. Take an umbrella. Bye now.") + splitter.flush()
    assert got == ["Rain may come,", "to the valley today.", "Take an umbrella. Bye now."]  # not "Rain may,"


def test_first_sentence_is_not_cut_when_its_known_rest_would_be_one_short_word() -> None:
    """Guards /say "Last is the green garden.": "garden." synthesized alone was heard as "card in"."""
    for text in ("Last is the green garden.", "Day one is calm today."):
        splitter = SentenceSplitter(first_chars=16)
        assert splitter.feed(f"{text} More words follow here.") + splitter.flush() == [
            text,
            "More words follow here.",
        ]
        alone = SentenceSplitter(first_chars=16)  # /say: the whole text in one piece, its end at the end
        assert alone.feed(text) + alone.flush() == [text]


def test_first_clip_cut_is_off_with_zero() -> None:
    splitter = SentenceSplitter(first_chars=0)
    got = [s for p in words("Good morning, everyone here. Rain may come today.") for s in splitter.feed(p)]
    assert got + splitter.flush() == ["Good morning, everyone here.", "Rain may come today."]


def test_word_aligned_first_clip_is_cut_as_soon_as_its_last_word_arrives() -> None:
    splitter = SentenceSplitter(first_chars=12)
    fed = [(piece, splitter.feed(piece)) for piece in words("Day seventeen is calm today.")]
    assert fed[1] == (" seventeen", ["Day seventeen,"])  # not one word later
    assert fed[-1] == (" today.", ["is calm today."])
    chars_only = SentenceSplitter(first_chars=12)
    assert [s for ch in "Day seventeen" for s in chars_only.feed(ch)] == []  # "seventeen" may go on
