"""A group commit on PostgreSQL: the quick writes of one turn of the event loop that insert into the same
tables, as one statement.

Each quick write costs a round trip and a commit, and the commit's WAL flush (`fdatasync`) is the larger
part of what the database spends on it (BENCHMARKS.md).  Concurrent responses that finish, or start, in
the same turn of the event loop write the same statements (a response row, its items, ...): their rows
joined, statement by statement (one multi-row VALUES each, then one statement by store/pg_merge.py), are
one round trip and one commit for all of them, as SQLite's quick writes are (store/sqlite_threads.py).

Only writes whose every statement takes several rows join (a plain INSERT, or one that does nothing on a
conflict: pg_merge's rule), and only with writes of the very same statements in the same order.  The first
of a group waits one turn of the event loop (`asyncio.sleep(0)`) for the others, then runs them all; a
write that joined waits for that.  A group that fails runs again one write at a time, so each caller gets
its own outcome; a caller cancelled once its write joined is stored all the same (as on SQLite), and the
first one, cancelled while it waits, hands the others to a task of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from respond.store.pg_merge import Step, groupable, merged

Run = Callable[[list[Step]], Awaitable[None]]
Member = tuple[Sequence[Any], list[Step], "asyncio.Future[None] | None"]


def alone(stmts: Sequence[Any], steps: list[Step]) -> list[Step]:
    """A write's steps as they run: one statement where they join, else as they are (one transaction)."""
    one = merged(stmts, steps)
    return [(one[0], [one[1]])] if one is not None else steps


def _settled(task: asyncio.Task[None]) -> None:
    """(Its caller's outcome, read here too: a caller that was cancelled meanwhile does not read it.)"""
    if not task.cancelled():
        task.exception()


class Grouper:
    """The quick writes waiting for the end of this turn of the event loop, by their statements."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._pending: dict[tuple[str, ...], list[Member]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def write(self, stmts: Sequence[Any], steps: list[Step]) -> None:
        if not all(groupable(stmt) for stmt in stmts):
            await self._run(alone(stmts, steps))
            return
        key = tuple(sql for sql, _args in steps)
        group = self._pending.get(key)
        if group is not None:
            joined: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            group.append((stmts, steps, joined))
            await joined
            return
        group = self._pending[key] = []
        try:
            await asyncio.sleep(0)  # the writes of the same statements asked for in this turn join
        except BaseException:
            del self._pending[key]
            if group:  # (this one is not stored: cancelled before it was sent, as it would be alone)
                self._task(self._members(group))
            raise
        del self._pending[key]
        if not group:
            await self._run(alone(stmts, steps))
            return
        # the others' outcomes do not depend on this caller: cancelled now, its write is stored all the same
        await asyncio.shield(self._task(self._members([(stmts, steps, None), *group])))

    def _task(self, run: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(run)
        self._tasks.add(task)
        task.add_done_callback(_settled)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _members(self, group: list[Member]) -> None:
        """A group's writes as one, or one by one if that fails; the first member's (None) outcome is raised."""
        if len(group) > 1:
            stmts = group[0][0]
            steps = [(sql, [row for _stmts, member, _fut in group for row in member[n][1]])
                     for n, (sql, _args) in enumerate(group[0][1])]
            one = merged(stmts, steps, grouped=True)
            try:
                if one is None and len(steps) > 1:  # (not as one statement: one at a time)
                    raise LookupError
                await self._run([(one[0], [one[1]])] if one is not None else steps)
            except Exception:  # noqa: BLE001 - each runs again alone, for its own outcome
                pass
            else:
                for _stmts, _steps, fut in group:
                    if fut is not None and not fut.done():
                        fut.set_result(None)
                return
        mine: BaseException | None = None
        for stmts, steps, fut in group:
            try:
                await self._run(alone(stmts, steps))
            except Exception as exc:  # noqa: BLE001 - handed to its caller
                if fut is None:
                    mine = exc
                elif not fut.done():
                    fut.set_exception(exc)
            else:
                if fut is not None and not fut.done():
                    fut.set_result(None)
        if mine is not None:
            raise mine
