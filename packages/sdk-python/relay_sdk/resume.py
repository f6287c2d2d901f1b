"""Picking an event's token stream up again on a new socket (protocol v1.1), as the TypeScript
SDK does (packages/sdk/src/app-client.ts).

On every new socket the app client resends each event it holds no final for (same
``idempotency_key``: the relay answers with the same event and moves its final here), then asks
for the rest of each stream with ``resume``: the relay answers ``resumed`` and replays every
recorded token of the current attempt after the last one held, then the live ones. A send whose
``accepted`` is first read on a later socket than it was written to is resumed too, from its
first token: it may have been accepted on the lost socket, and its tokens went there, or nowhere.

Each batch of resumes is followed by a ``discover`` with its own numbered ref, a barrier: the
relay handles a socket's frames in order, so its answer comes after every replay of the batch.
Finals that arrive before it (from the relay's outbox as the socket opened, or with the answer to
a resend) are held until then, so no handle ends before its replayed tokens are in.

A ``resume`` the relay refuses for good (``UNKNOWN_EVENT``: past its stream retention; a v1 relay
that knows no ``resume``) is dropped: the resend still brings the final, whose reply carries the
whole answer. One it could not serve (``RELAY_UNAVAILABLE``: its store is down) is sent again
after a pause on the same socket, its final held meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

#: The ref of a resume names its event, so its refusal is known for one.
RESUME_REF = "sdk-resume:"
#: The ref of the ``discover`` sent after a batch of resumes, numbered per batch.
BARRIER_REF = "sdk-resume-barrier:"
#: A resume the relay could not serve (RELAY_UNAVAILABLE) is sent again after about this long (s).
RESUME_RETRY_S = 0.5


@dataclass
class Resuming:
    """An event resumed on the current socket: the barrier that follows its resume ("" while a
    refused resume waits to be sent again), and a final that came before its replay was written."""

    barrier: str
    final: Optional[dict[str, Any]] = None


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


def barrier_frame(number: int) -> dict[str, Any]:
    return {"type": "discover", "ref": f"{BARRIER_REF}{number}"}
