"""MLLP framing (feed/mllp.py MllpFramer): bytes in any split -> messages and framing errors, in order."""

from __future__ import annotations

from xds_server.feed.mllp import Frame, FramingError, MllpFramer, frame

A = b"MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|||X\r"
B = b"MSH|^~\\&|A|B|C|D|1||ADT^A08|2|P|2.5\rPID|||Y\r"


def feed_all(chunks: list[bytes], max_bytes: int = 1 << 20) -> list[Frame | FramingError]:
    framer = MllpFramer(max_bytes)
    events: list[Frame | FramingError] = []
    for chunk in chunks:
        events += framer.feed(chunk)
    return events


def kinds(events: list[Frame | FramingError]) -> list[object]:
    return [e.content if isinstance(e, Frame) else "error" for e in events]


class TestFrames:
    def test_one_message(self) -> None:
        assert kinds(feed_all([frame(A)])) == [A]

    def test_two_messages_in_one_read(self) -> None:
        assert kinds(feed_all([frame(A) + frame(B)])) == [A, B]

    def test_split_anywhere(self) -> None:
        data = frame(A) + frame(B)
        for cut in range(1, len(data)):
            assert kinds(feed_all([data[:cut], data[cut:]])) == [A, B], cut

    def test_one_byte_at_a_time(self) -> None:
        data = frame(A) + frame(B)
        assert kinds(feed_all([data[i : i + 1] for i in range(len(data))])) == [A, B]

    def test_end_block_split_from_its_carriage_return(self) -> None:
        data = frame(A)
        assert kinds(feed_all([data[:-1]])) == []
        assert kinds(feed_all([data[:-1], data[-1:]])) == [A]

    def test_newlines_between_frames_are_tolerated(self) -> None:
        assert kinds(feed_all([frame(A) + b"\r\n" + frame(B) + b"\n"])) == [A, B]

    def test_a_one_megabyte_message(self) -> None:
        big = A + b"NTE|1||" + b"x" * (1 << 20) + b"\r"
        data = frame(big)
        chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
        assert kinds(feed_all(chunks, max_bytes=2 << 20)) == [big]


class TestFramingErrors:
    def test_bytes_before_a_start_block(self) -> None:
        events = feed_all([b"garbage" + frame(A)])
        assert kinds(events) == ["error", A]

    def test_a_frame_without_start_block(self) -> None:
        events = feed_all([A + b"\x1c\r" + frame(B)])
        assert kinds(events) == ["error", B]

    def test_end_block_without_carriage_return(self) -> None:
        events = feed_all([b"\x0b" + A + b"\x1cX" + frame(B)])
        assert kinds(events) == ["error", B]
        assert isinstance(events[0], FramingError) and events[0].head.startswith(b"MSH")

    def test_a_start_block_inside_a_frame(self) -> None:
        events = feed_all([b"\x0b" + A + frame(B)])
        assert kinds(events) == ["error", B]

    def test_an_oversized_message_is_one_error_and_the_next_one_is_read(self) -> None:
        big = A + b"x" * 5000
        events = feed_all([frame(big)[:3000], frame(big)[3000:] + frame(B)], max_bytes=1000)
        assert kinds(events) == ["error", B]
        first = events[0]
        assert isinstance(first, FramingError) and "larger than 1000" in first.reason
        assert first.head.startswith(b"MSH")  # enough to name the message's control id

    def test_endless_bytes_outside_a_frame_are_dropped(self) -> None:
        framer = MllpFramer(100)
        assert kinds(framer.feed(b"z" * 101)) == ["error"]
        assert kinds(framer.feed(frame(A))) == [A]
