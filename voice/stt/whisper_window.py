"""Short recordings through faster-whisper's model without the 30 s window: several times faster on CPU.

Whisper reads audio in 30 s windows: ``WhisperModel.transcribe`` pads a 2 s question with 28 s of
silence, and the encoder (most of the work for ``tiny.en`` on a CPU) and every decoding step's
cross-attention then run over 1,500 positions. CTranslate2's encoder takes shorter input, so here the
features of the recording plus :data:`PAD_S` of padding go in instead (the idea of whisper.cpp's
``audio_ctx``). Without the padding the model repeats itself; with 1 to 2 s it gave the same words as the
30 s window on the project's test phrases, in a window of at least :data:`MIN_WINDOW_S`.

:func:`transcribe_fitted` returns None whenever the standard path should decide instead: a recording
too long for one window, a language to detect, or a transcript that looks degenerate (no end token
within a generous length, or text as repetitive as Whisper's own fallback threshold). Silence is
handled as ``WhisperModel.transcribe`` does: the bundled Silero VAD keeps only the speech when
``vad_filter`` is on, and Whisper's no-speech rule (no-speech probability over 0.6 with a mean log
probability under -1) gives an empty transcript.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: silence after the recording in the window
PAD_S = 2.0
#: the shortest window: a word or two in a window of 3 to 6 s often came out repeated (8 s and more did not)
MIN_WINDOW_S = 10.0
#: recordings up to this long (after the VAD) take the fitted path; one window is 30 s
MAX_S = 28.0
_FRAMES_PER_S = 100
#: tokens allowed per second of audio (fast speech is about 4 words, 6 tokens, a second) plus a margin
_TOKENS_PER_S = 12
_MIN_TOKENS = 16
#: Whisper's thresholds (``WhisperModel.transcribe`` defaults)
_COMPRESSION_RATIO = 2.4
_NO_SPEECH_PROB = 0.6
_LOG_PROB = -1.0


def transcribe_fitted(model: Any, audio: np.ndarray, language: str | None, beam_size: int,
                      vad_filter: bool) -> str | None:
    """The words in ``audio`` (16 kHz mono float32), or None to use ``WhisperModel.transcribe`` instead.

    Args:
        model: a loaded ``faster_whisper.WhisperModel``.
        audio: the recording.
        language: the language, or None to detect it (then the standard path is used).
        beam_size: 1 is greedy decoding.
        vad_filter: keep only what the bundled Silero VAD finds to be speech first.

    Returns:
        The text (empty: no speech), or None when the standard path should transcribe it.
    """
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_compression_ratio, get_ctranslate2_storage, get_suppressed_tokens
    from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

    if language is None and model.model.is_multilingual:
        return None
    if vad_filter:
        audio = np.concatenate(collect_chunks(audio, get_speech_timestamps(audio, VadOptions()))[0])
        if audio.size == 0:
            return ""
    duration = audio.size / model.feature_extractor.sampling_rate
    if duration > MAX_S:
        return None
    features = model.feature_extractor(audio)
    # the window: the recording, PAD_S more, at least MIN_WINDOW_S (mel frames are 10 ms)
    frames = max(features.shape[-1] + int(PAD_S * _FRAMES_PER_S), int(MIN_WINDOW_S * _FRAMES_PER_S))
    frames += frames % 2  # the encoder's second convolution has stride 2
    padded = np.zeros((1, features.shape[0], frames), dtype=np.float32)
    padded[0, :, : features.shape[-1]] = features
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)
    prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    limit = _MIN_TOKENS + int(duration * _TOKENS_PER_S)
    result = model.model.generate(
        get_ctranslate2_storage(padded),
        [prompt],
        beam_size=beam_size,
        max_length=len(prompt) + limit,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, (-1,)),
    )[0]
    tokens = [token for token in result.sequences_ids[0] if token < tokenizer.eot]
    if len(tokens) >= limit:  # never reached the end token: repeating itself
        return None
    text = str(tokenizer.decode(tokens)).strip()
    if not text:
        return ""
    mean_log_prob = result.scores[0] * len(tokens) / (len(tokens) + 1)
    if result.no_speech_prob > _NO_SPEECH_PROB and mean_log_prob < _LOG_PROB:
        return ""
    if get_compression_ratio(text) > _COMPRESSION_RATIO or repeats(text):
        return None
    return text


def repeats(text: str) -> bool:
    """True when ``text`` ends with the same words three times over ("Yes. Yes. Yes.", "I see, I see, I see").

    Such a transcript is Whisper's failure mode; a speaker who really said it gets the standard path's answer.
    """
    words = [word.strip(".,!?;:").lower() for word in text.split()]
    for period in range(1, len(words) // 3 + 1):
        tail = words[len(words) - 3 * period :]
        if tail[:period] == tail[period : 2 * period] == tail[2 * period :]:
            return True
    return False
