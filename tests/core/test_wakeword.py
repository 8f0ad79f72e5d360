"""Wake words on transcripts: who is addressed, and what is left for the bot."""

from __future__ import annotations

import pytest

from core.wakeword import find_wake_word, normalize, wake_words_for

JOE = wake_words_for("Joe", ["computer", "hey bot"])


@pytest.mark.parametrize(
    ("heard", "rest"),
    [
        ("Joe, what are your opening hours?", "what are your opening hours?"),
        ("joe what are your opening hours", "what are your opening hours"),
        ("JOE! What are your opening hours?", "What are your opening hours?"),
        ("Hey, Joe, what are your opening hours?", "what are your opening hours?"),
        ("Hey Joe what are your opening hours?", "what are your opening hours?"),
        ("OK Joe. Tell me a joke.", "Tell me a joke."),
        ("Okay, Joe, tell me a joke.", "tell me a joke."),
        ("O.K. Joe, tell me a joke.", "tell me a joke."),
        ("Hi, hello, Joe - are you there?", "are you there?"),
        ("...Joe? Are you there?", "Are you there?"),
        ("Joe.", ""),
        ("Hey Joe!", ""),
    ],
)
def test_a_leading_wake_word_is_found_and_stripped(heard: str, rest: str) -> None:
    match = find_wake_word(heard, JOE)
    assert match is not None and match.wake_word == "Joe"
    assert match.text == rest


@pytest.mark.parametrize(
    ("heard", "rest"),
    [
        ("What are your opening hours, Joe?", "What are your opening hours?"),
        ("Thanks, Joe.", "Thanks."),
        ("are you there, joe", "are you there"),
    ],
)
def test_a_wake_word_at_the_end_after_a_comma_addresses_the_bot(heard: str, rest: str) -> None:
    match = find_wake_word(heard, JOE)
    assert match is not None and match.text == rest


@pytest.mark.parametrize(
    "heard",
    [
        "What are your opening hours?",
        "I told Joe about it.",  # named, not addressed
        "Joe's car is outside.",
        "Hey, what is up?",
        "Joey, are you there?",  # a short name is matched exactly
        "Jo",
        "",
        "...",
        "Ask Joe",  # at the end but no comma: talking about him
    ],
)
def test_speech_that_does_not_address_the_bot_is_not_matched(heard: str) -> None:
    assert find_wake_word(heard, JOE) is None


def test_multi_word_wake_words_and_the_longest_match_win() -> None:
    match = find_wake_word("Hey bot, turn it down.", JOE)
    assert match is not None and (match.wake_word, match.text) == ("hey bot", "turn it down.")


def test_long_wake_words_tolerate_one_wrong_letter_and_short_ones_do_not() -> None:
    for heard in ("Computor, lights on.", "Compute, lights on.", "Computers, lights on."):
        match = find_wake_word(heard, JOE)
        assert match is not None and match.wake_word == "computer" and match.text == "lights on.", heard
    assert find_wake_word("Commuters, lights on.", JOE) is None  # two letters off
    assert find_wake_word("Jon, lights on.", JOE) is None


def test_case_and_accents_are_ignored() -> None:
    match = find_wake_word("ZOË, bonjour", wake_words_for("Zoë"))
    assert match is not None and match.text == "bonjour"
    assert normalize("Zoë") == normalize("ZOE") == "zoe"


def test_wake_words_for_puts_the_name_first_and_drops_blanks_and_duplicates() -> None:
    assert wake_words_for("Joe", ["joe", " ", "Hey Bot", "hey, bot", "computer"]) == ("Joe", "Hey Bot", "computer")
    assert wake_words_for("", ["computer"]) == ("computer",)


def test_no_wake_words_addresses_nothing() -> None:
    assert find_wake_word("Joe, hello", ()) is None
