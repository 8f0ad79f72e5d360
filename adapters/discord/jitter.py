"""A small per-speaker jitter buffer: packets back in sequence order, losses named.

UDP delivers a speaker's packets late, twice, out of order or not at all. The buffer hands a
packet out as soon as it is next in sequence (no added delay while nothing is missing), holds
later ones behind a gap (at most ``depth``), drops duplicates and packets that come after their
turn, and reports a missing packet as ``None`` once a later one has waited
``max_wait_s`` (the decoder then conceals the gap). A gap longer than ``max_conceal`` packets is
skipped without concealment (a glitch that long is not speech worth inventing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SEQ_MOD = 1 << 16
RESTART_GAP = 500  # a sequence number this far from the expected one starts the stream afresh


def seq_after(a: int, b: int) -> int:
    """How many packets ``a`` comes after ``b`` (negative: before), modulo sequence wrap-around."""
    d = (a - b) % SEQ_MOD
    return d - SEQ_MOD if d >= SEQ_MOD // 2 else d


@dataclass
class JitterBuffer:
    """One speaker's packets between the socket and the decoder (not thread-safe: one owner).

    Args:
        depth: packets held behind a gap before the gap is declared lost.
        max_wait_s: how long a packet waits for a missing one before the gap is declared lost.
        max_conceal: the longest gap (packets) reported as losses; longer gaps are skipped.
    """

    depth: int = 3
    max_wait_s: float = 0.06
    max_conceal: int = 5
    held: dict[int, tuple[bytes, float]] = field(default_factory=dict)
    next_seq: int | None = None
    lost: int = 0
    late: int = 0

    def push(self, seq: int, frame: bytes, now: float) -> None:
        """Take the packet ``seq`` carrying ``frame`` that arrived at ``now``."""
        if self.next_seq is not None and abs(seq_after(seq, self.next_seq)) > RESTART_GAP:
            self.reset()  # the sender started a new stream (a rejoin, a new client): follow it
        if self.next_seq is not None and seq_after(seq, self.next_seq) < 0:
            self.late += 1  # its turn has passed (or a duplicate of a packet already out)
            return
        self.held.setdefault(seq, (frame, now))

    def pop(self, now: float, flush: bool = False) -> list[bytes | None]:
        """Frames ready at ``now``, in order; ``None`` for each lost packet. ``flush``: release everything."""
        out: list[bytes | None] = []
        while self.held:
            if self.next_seq is None:
                self.next_seq = min(self.held, key=lambda s: seq_after(s, next(iter(self.held))))
            if self.next_seq in self.held:  # in turn: out at once
                frame, _ = self.held.pop(self.next_seq)
                out.append(frame)
                self.next_seq = (self.next_seq + 1) % SEQ_MOD
                continue
            first = min(self.held, key=lambda s: seq_after(s, self.next_seq or 0))
            waited = now - min(at for _, at in self.held.values())
            if not flush and len(self.held) < self.depth and waited < self.max_wait_s:
                break
            gap = seq_after(first, self.next_seq)
            self.lost += gap
            if gap <= self.max_conceal:
                out.extend([None] * gap)
            self.next_seq = first
        return out

    def reset(self) -> None:
        """Forget everything (the speaker left or stopped being listened to)."""
        self.held.clear()
        self.next_seq = None
