"""store/pg_direct.py's pool of asyncpg connections, with stand-in connections (no database needed): at
most `size` out, a checkin hands a connection to the first waiter, a broken one makes room for a new
one, and a cancelled caller never leaves a connection out."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from respond.store import pg_direct


class FakeConn:
    def __init__(self, n: int) -> None:
        self.n, self.closed, self.in_transaction = n, False, False

    def is_closed(self) -> bool:
        return self.closed

    def is_in_transaction(self) -> bool:
        return self.in_transaction

    def terminate(self) -> None:
        self.closed = True

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[FakeConn]:
    import asyncpg

    made: list[FakeConn] = []

    async def connect(**_kwargs: Any) -> FakeConn:
        await asyncio.sleep(0)
        if len(made) >= 100:
            raise OSError("refused")
        made.append(FakeConn(len(made)))
        return made[-1]

    monkeypatch.setattr(asyncpg, "connect", connect)
    return made


def test_at_most_size_connections_and_a_waiter_gets_the_next_checkin(opened: list[FakeConn]) -> None:
    async def main() -> None:
        pool = pg_direct._Pool({}, 2)
        a, b = await pool.acquire(), await pool.acquire()
        third = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0.01)
        assert not third.done() and len(opened) == 2
        pool.release(a)
        assert await third is a
        pool.release(b)
        assert await pool.acquire() is b  # an idle one, not a new one
        assert len(opened) == 2

    asyncio.run(main())


@pytest.mark.parametrize("how", ["closed", "in_transaction"])
def test_a_broken_connection_is_dropped_and_its_place_opens_a_new_one(opened: list[FakeConn], how: str) -> None:
    async def main() -> None:
        pool = pg_direct._Pool({}, 1)
        a = await pool.acquire()
        waiting = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0.01)
        setattr(a, how, True)
        pool.release(a)
        b = await waiting
        assert b is not a and a.closed and not b.closed and len(opened) == 2

    asyncio.run(main())


def test_a_connection_that_died_idle_is_not_handed_out(opened: list[FakeConn]) -> None:
    async def main() -> None:
        pool = pg_direct._Pool({}, 1)
        a = await pool.acquire()
        pool.release(a)
        a.closed = True  # the database went away
        b = await pool.acquire()
        assert b is not a and not b.closed

    asyncio.run(main())


def test_a_caller_cancelled_as_it_is_handed_a_connection_passes_it_on(opened: list[FakeConn]) -> None:
    async def main() -> None:
        pool = pg_direct._Pool({}, 1)
        a = await pool.acquire()
        cancelled = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0.01)
        pool.release(a)  # handed to the waiter ...
        cancelled.cancel()  # ... which is cancelled before it runs again
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert await asyncio.wait_for(pool.acquire(), 1) is a

    asyncio.run(main())


def test_a_failed_connect_gives_its_place_to_the_next_caller(opened: list[FakeConn],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncpg

    async def refused(**_kwargs: Any) -> FakeConn:
        raise OSError("refused")

    async def main() -> None:
        pool = pg_direct._Pool({}, 1)
        real = asyncpg.connect
        monkeypatch.setattr(asyncpg, "connect", refused)
        with pytest.raises(OSError):
            await pool.acquire()
        monkeypatch.setattr(asyncpg, "connect", real)
        assert await asyncio.wait_for(pool.acquire(), 1) is opened[0]

    asyncio.run(main())


def test_a_connection_out_at_close_is_closed_on_its_checkin(opened: list[FakeConn]) -> None:
    async def main() -> None:
        pool = pg_direct._Pool({}, 2)
        a, b = await pool.acquire(), await pool.acquire()
        pool.release(b)
        await pool.close()
        assert b.closed and not a.closed
        pool.release(a)
        assert a.closed
        with pytest.raises(RuntimeError):
            await pool.acquire()

    asyncio.run(main())
