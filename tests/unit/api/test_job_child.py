from __future__ import annotations

import multiprocessing
import threading
from typing import Any

from devbox.api import job_child, protocol


def test_a_prompt_gets_the_answer_to_its_own_id() -> None:
    reader, writer = multiprocessing.Pipe(duplex=False)
    events: list[dict[str, Any]] = []

    def emit(event: dict[str, Any]) -> None:
        events.append(event)
        # a stale answer to another prompt first, then the right one
        writer.send_bytes(protocol.encode({"prompt": "other", "text": "wrong"}))
        writer.send_bytes(protocol.encode({"prompt": event["id"], "text": "s3cret"}))

    assert job_child._ask(emit, reader, "Perforce password: ", True) == "s3cret"
    assert events[0]["event"] == "prompt" and events[0]["secret"] is True
    assert "s3cret" not in repr(events)


def test_no_answer_is_none() -> None:
    reader, writer = multiprocessing.Pipe(duplex=False)

    def emit(event: dict[str, Any]) -> None:
        threading.Timer(
            0.05,
            lambda: writer.send_bytes(protocol.encode({"prompt": event["id"], "text": None})),
        ).start()

    assert job_child._ask(emit, reader, "Perforce password: ", True) is None
    writer.close()
    assert job_child._ask(lambda event: None, reader, "again: ", True) is None
