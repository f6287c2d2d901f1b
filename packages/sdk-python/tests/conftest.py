"""Fixtures: real relays shared by the whole session (one per backend), and a runner for the
asyncio tests (Debian has no pytest-asyncio; each test runs its coroutine in a fresh loop)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the package, uninstalled
sys.path.insert(0, str(Path(__file__).resolve().parent))

from relay_harness import Relay, backends  # noqa: E402

TEST_TIMEOUT_S = 60


def run(test: Callable[[], Awaitable[Any]], timeout: float = TEST_TIMEOUT_S) -> Any:
    """Runs one async test in a fresh event loop, failing it if any task of it is left behind."""

    async def main() -> Any:
        result = await asyncio.wait_for(test(), timeout)
        await asyncio.sleep(0)
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert left == [], f"tasks left running: {left}"
        return result

    return asyncio.run(main())


@pytest.fixture(scope="session", params=backends())
def relay(request: pytest.FixtureRequest) -> Iterator[Relay]:
    """A relay for the session on each backend under test; must drain and exit 0 at the end."""
    started = Relay(request.param)
    yield started
    codes = started.stop()
    assert codes == [0] * len(codes), f"relay nodes exited {codes}"
