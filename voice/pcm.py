"""Raw audio passed between engines, the cache and the encoders."""

from __future__ import annotations

from dataclasses import dataclass

SAMPLE_WIDTH = 2  # 16-bit signed little-endian everywhere


@dataclass(frozen=True, slots=True)
class Pcm:
    """Mono 16-bit little-endian PCM at ``sample_rate``.

    Attributes:
        data: the samples.
        sample_rate: samples per second.
    """

    data: bytes
    sample_rate: int

    @property
    def duration_s(self) -> float:
        """Playing time in seconds."""
        return len(self.data) / (SAMPLE_WIDTH * self.sample_rate) if self.sample_rate else 0.0

    def __add__(self, other: Pcm) -> Pcm:
        if other.sample_rate != self.sample_rate:
            raise ValueError(f"cannot join {self.sample_rate} Hz and {other.sample_rate} Hz audio")
        return Pcm(self.data + other.data, self.sample_rate)
