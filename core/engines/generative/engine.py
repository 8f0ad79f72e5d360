"""The generative engine: the shipped Transformer answering from the last few turns, streamed.

Requests that arrive together are decoded as one batch on a single worker
thread (inference never runs on the event loop); each generated token is handed
back to its request's asyncio queue as soon as it is sampled, detokenized into
a text piece and yielded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.engine import Conversation, DialogueEngine
from core.engines.generative.checkpoint import LoadedModel, load_model, model_file
from core.engines.generative.config import GenerativeEngineConfig
from core.engines.generative.generate import Sampling, decode
from core.engines.generative.text import Detokenizer, tokenize
from core.errors import EngineError, EngineUnavailable, NoAnswer

log = logging.getLogger(__name__)

#: The repository root: relative model paths resolve from here, not from the cwd.
REPO_ROOT = Path(__file__).resolve().parents[3]


def resolve_model_path(path: str | Path) -> Path:
    """``path`` if absolute, else relative to the repository root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


@dataclass(eq=False)
class _Request:
    """One reply being decoded: the decode thread hands its tokens to the event loop in bunches.

    The first token goes at once (the first piece is what a user waits for); later ones are held until
    ``piece_interval_s`` has passed since the last hand-over, then go together. A token handed over alone
    costs the event loop a wake-up and a step of the reply's task (through the whole pipeline) and,
    across processes, a bus event: with 32 replies decoded at once that work competed with decoding for
    the GIL and the CPU. Only the decode thread touches ``held`` and ``handed_at``.
    """

    prompt: list[int]
    sampling: Sampling
    generator: torch.Generator | None
    loop: asyncio.AbstractEventLoop
    piece_interval_s: float = 0.0
    queue: asyncio.Queue[list[int] | None | BaseException] = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    held: list[int] = field(default_factory=list)
    handed_at: float | None = None  # monotonic time of the last hand-over (None: nothing handed over yet)

    def token(self, token: int) -> None:
        """A new token (decode thread): handed over now, or with the next one after the interval."""
        self.held.append(token)
        now = time.monotonic()
        if self.handed_at is None or now - self.handed_at >= self.piece_interval_s:
            self._hand_over(now)

    def send(self, item: None | BaseException) -> None:
        """The end of the reply (None) or its failure, after the tokens still held."""
        self._hand_over(time.monotonic())
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def _hand_over(self, now: float) -> None:
        if self.held:
            tokens, self.held = self.held, []
            self.handed_at = now
            self.loop.call_soon_threadsafe(self.queue.put_nowait, tokens)


class GenerativeEngine(DialogueEngine):
    """Replies with the small Transformer trained by :mod:`core.engines.generative.train`.

    Args:
        path: model directory or ``model.pt`` (relative paths from the repository root).
        sampling: temperature, top-k/top-p, repetition penalty, length cap.
        context_turns: how many earlier turns the model sees besides the new message.
        seed: fixed seed for reproducible replies (None: random).
        max_batch: most requests decoded together.
        batch_window_ms: how long the first request waits for others to join its batch.
        piece_interval_ms: tokens decoded within this time after the last piece make one piece (the
            first token is a piece of its own, at once); 0: a piece per token.
        threads: torch CPU threads for inference (0: leave torch's setting).
        languages: languages the model answers; a message in another one is declined with NoAnswer.
    """

    name = "generative"

    #: texts whose token ids are kept (a turn is in the prompts of its chat's next ``context_turns``
    #: messages); all are dropped when full. Longer texts are tokenized every time.
    ENCODED_LIMIT = 8_192
    ENCODED_MAX_CHARS = 1_000

    def __init__(
        self,
        path: str | Path = "models/chitchat",
        sampling: Sampling | None = None,
        context_turns: int = 4,
        seed: int | None = None,
        max_batch: int = 32,
        batch_window_ms: float = 0.0,
        piece_interval_ms: float = 50.0,
        threads: int = 0,
        languages: Sequence[str] = ("en",),
    ) -> None:
        self.path = resolve_model_path(path)
        self.sampling = sampling or Sampling()
        self.context_turns = context_turns
        self.seed = seed
        self.max_batch = max_batch
        self.batch_window_s = batch_window_ms / 1000
        self.piece_interval_s = piece_interval_ms / 1000
        self.threads = threads
        self.languages = frozenset(languages)
        self.loaded: LoadedModel | None = None
        self.load_seconds = 0.0
        self._pending: asyncio.Queue[_Request] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._banned: list[int] = []
        self._encoded: dict[str, tuple[int, ...]] = {}

    @classmethod
    def from_config(cls, cfg: GenerativeEngineConfig) -> GenerativeEngine:
        """Build from the ``kind: generative`` entry of config.yaml."""
        return cls(
            path=cfg.path,
            sampling=Sampling(cfg.temperature, cfg.top_k, cfg.top_p, cfg.repetition_penalty, cfg.max_tokens),
            context_turns=cfg.context_turns,
            seed=cfg.seed,
            max_batch=cfg.max_batch,
            batch_window_ms=cfg.batch_window_ms,
            piece_interval_ms=cfg.piece_interval_ms,
            threads=cfg.threads,
            languages=cfg.languages,
        )

    async def start(self) -> None:
        if self._worker is not None:
            return
        if not model_file(self.path).exists():
            raise EngineUnavailable(
                f"no generative model at {model_file(self.path)} (train one with `python run.py train`)"
            )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generative")
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            self.loaded = await loop.run_in_executor(self._executor, self._load)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise EngineUnavailable(f"cannot load the generative model {self.path}: {exc}") from exc
        self.load_seconds = time.perf_counter() - started
        cap = self.loaded.model.cfg.max_len // 2
        if self.sampling.max_tokens > cap:
            self.sampling = dataclasses.replace(self.sampling, max_tokens=cap)
        v = self.loaded.vocab
        self._banned = [v.pad, v.unk, v.user, v.bot]
        self._encoded.clear()  # token ids of another vocabulary
        self._pending = asyncio.Queue()
        self._worker = asyncio.create_task(self._batches(), name="generative-batcher")
        log.info("generative model %s loaded in %.0f ms", self.path, self.load_seconds * 1000)

    def _load(self) -> LoadedModel:
        if self.threads:
            torch.set_num_threads(self.threads)
        return load_model(self.path)

    async def stop(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            try:
                await worker
            except asyncio.CancelledError:
                pass
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, wait=True)
            self._executor = None
        while self._pending is not None and not self._pending.empty():
            self._pending.get_nowait().send(EngineUnavailable("generative engine stopped"))
        self.loaded = None

    def prompt(self, conversation: Conversation) -> list[int]:
        """The model input for ``conversation``: recent turns, the new message, then ``<bot>``.

        Oldest turns are dropped until the prompt leaves room for a full reply.
        """
        assert self.loaded is not None
        vocab = self.loaded.vocab
        turns = list(conversation.turns[-(self.context_turns + 1) :]) if self.context_turns else []
        if turns and turns[-1].role == "user" and turns[-1].text == conversation.text:
            turns = turns[:-1]  # the pipeline's history may already hold the new message
        turns = turns[-self.context_turns :] if self.context_turns else []
        budget = self.loaded.model.cfg.max_len - self.sampling.max_tokens - 1
        encoded = [[vocab.bot if t.role == "bot" else vocab.user, *self._encode(t.text), vocab.eos] for t in turns]
        last = [vocab.user, *self._encode(conversation.text)[-(budget - 2) :], vocab.eos]
        ids = last
        for turn in reversed(encoded):
            if len(turn) + len(ids) > budget:
                break
            ids = turn + ids
        return ids + [vocab.bot]

    def _encode(self, text: str) -> tuple[int, ...]:
        """Token ids of ``text``; a short text's are kept, so a turn is tokenized once, not in every prompt it is in."""
        ids = self._encoded.get(text)
        if ids is None:
            assert self.loaded is not None
            ids = tuple(self.loaded.vocab.encode(tokenize(text)))
            if len(text) <= self.ENCODED_MAX_CHARS:
                if len(self._encoded) >= self.ENCODED_LIMIT:
                    self._encoded.clear()
                self._encoded[text] = ids
        return ids

    def _generator(self) -> torch.Generator | None:
        if self.seed is None:
            return None
        return torch.Generator().manual_seed(self.seed)

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:
        if self.loaded is None or self._pending is None:
            raise EngineUnavailable("generative engine is not started")
        if conversation.language and conversation.language not in self.languages:
            raise NoAnswer(f"the generative model does not speak {conversation.language!r}")
        request = _Request(
            self.prompt(conversation), self.sampling, self._generator(), asyncio.get_running_loop(), self.piece_interval_s
        )
        await self._pending.put(request)
        detok = Detokenizer()
        vocab = self.loaded.vocab
        produced = False
        try:
            while True:
                item = await request.queue.get()
                if item is None:
                    break
                if isinstance(item, EngineError):
                    raise item
                if isinstance(item, BaseException):
                    raise EngineError(f"generation failed: {item!r}") from item
                produced = True
                yield "".join([detok.piece(vocab.tokens[token]) for token in item])
        finally:
            request.cancelled.set()
        if not produced:
            raise NoAnswer("the model produced an empty reply")

    async def _batches(self) -> None:
        assert self._pending is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._pending.get()]
            await asyncio.sleep(self.batch_window_s)  # let requests made in the same instant join
            while len(batch) < self.max_batch and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            batch = [r for r in batch if not r.cancelled.is_set()]
            if batch:
                await loop.run_in_executor(self._executor, self._run, batch)

    def _run(self, batch: list[_Request]) -> None:
        assert self.loaded is not None
        vocab = self.loaded.vocab

        def on_token(row: int, token: int) -> bool:
            request = batch[row]
            if request.cancelled.is_set():
                return False
            request.token(token)
            return True

        try:
            decode(
                self.loaded.model,
                [r.prompt for r in batch],
                [r.sampling for r in batch],
                vocab.eos,
                vocab.pad,
                banned=self._banned,
                generators=[r.generator for r in batch],
                on_token=on_token,
            )
        except Exception as exc:
            log.exception("generation failed")
            for r in batch:
                r.send(exc)
            return
        for r in batch:
            r.send(None)
