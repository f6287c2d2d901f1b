"""Picking an event's token stream up again on a new socket after a reconnect (protocol v1.1).

On every new socket the app client resends each event it holds no final for (same
``idempotency_key``: the relay answers with the same event and moves its final here), then asks
for the rest of each stream with ``resume``: the relay answers ``resumed`` and replays every
recorded token of the current attempt after the last one held, then the live ones. A ``discover``
sent after the resumes is a barrier: the relay handles a socket's frames in order, so its answer
comes after every replay. Finals that arrive before it (from the relay's outbox, as the socket
opened) are held until then, so no handle ends before its replayed tokens are in.

A ``resume`` the relay refuses (``UNKNOWN_EVENT``: past its stream retention) is dropped: the
resend still brings the final, whose reply carries the whole answer.
"""

from __future__ import annotations

from typing import Any, Optional

#: The ref of a resume names its event, so its refusal is known for one.
RESUME_REF = "sdk-resume:"
#: The ref of the ``discover`` that marks the end of the replays.
BARRIER_REF = "sdk-resume-barrier"


def resume_frame(event_id: str, position: tuple[Optional[int], int]) -> dict[str, Any]:
    """The ``resume`` frame for an event whose tokens up to ``position`` = (attempt, last seq)
    are held; with no token held yet, the replay starts at the current attempt's first."""
    attempt, last_seq = position
    frame: dict[str, Any] = {"type": "resume", "event_id": event_id}
    if attempt is not None and last_seq >= 0:
        frame["attempt"] = attempt
        frame["after_seq"] = last_seq
    frame["ref"] = RESUME_REF + event_id
    return frame


def barrier_frame() -> dict[str, Any]:
    return {"type": "discover", "ref": BARRIER_REF}
