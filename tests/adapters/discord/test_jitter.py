"""The per-speaker jitter buffer: order, duplicates, late packets, losses, wrap-around, a new stream."""

from __future__ import annotations

from adapters.discord.jitter import JitterBuffer


def test_packets_in_order_go_out_at_once() -> None:
    j = JitterBuffer()
    j.push(10, b"a", 0.0)
    assert j.pop(0.0) == [b"a"]
    j.push(11, b"b", 0.02)
    assert j.pop(0.02) == [b"b"]


def test_a_reordered_packet_is_put_back_in_place() -> None:
    j = JitterBuffer()
    j.push(1, b"a", 0.0)
    assert j.pop(0.0) == [b"a"]
    j.push(3, b"c", 0.02)
    assert j.pop(0.03) == []  # 2 may still come
    j.push(2, b"b", 0.04)
    assert j.pop(0.04) == [b"b", b"c"]


def test_a_lost_packet_is_named_once_a_later_one_waited_long_enough_and_late_ones_are_dropped() -> None:
    j = JitterBuffer(max_wait_s=0.06)
    j.push(1, b"a", 0.0)
    j.pop(0.0)
    j.push(3, b"c", 0.02)
    assert j.pop(0.05) == []
    assert j.pop(0.09) == [None, b"c"] and j.lost == 1
    j.push(2, b"b", 0.1)  # too late
    j.push(3, b"c", 0.1)  # a duplicate
    assert j.pop(0.1) == [] and j.late == 2


def test_a_full_buffer_releases_without_waiting_and_long_gaps_are_not_concealed() -> None:
    j = JitterBuffer(depth=3, max_conceal=5)
    j.push(1, b"a", 0.0)
    j.pop(0.0)
    for seq in (10, 11, 12):
        j.push(seq, b"x", 0.0)
    assert j.pop(0.0) == [b"x", b"x", b"x"] and j.lost == 8  # 2..9: too long to invent


def test_sequence_numbers_wrap_and_a_restarted_stream_is_followed() -> None:
    j = JitterBuffer()
    j.push(65535, b"a", 0.0)
    j.push(0, b"b", 0.0)
    assert j.pop(0.0) == [b"a", b"b"]
    j.push(30000, b"new", 0.1)  # a new stream (another client): far from the expected 1
    assert j.pop(0.1) == [b"new"]
