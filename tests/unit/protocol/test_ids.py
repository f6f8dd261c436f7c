"""protocol/ids.py: ids sort by creation time (new rows land at the end of the indexes on ids), keep
the API's shape, and stay unguessable; the shorter ids are random only, as long as before."""

from __future__ import annotations

import re
import time

from respond.protocol.ids import new_id, token_id


def test_ids_keep_their_shape_and_sort_by_creation_time() -> None:
    first = new_id("resp")
    time.sleep(0.002)
    later = [new_id("resp") for _ in range(50)]
    assert all(re.fullmatch(r"resp_[0-9a-f]{48}", i) for i in [first, *later])
    assert all(first < i for i in later)  # a millisecond later sorts after, whatever the random part
    stamp = int(first[5:17], 16)
    assert abs(stamp - time.time() * 1000) < 60_000
    assert len({i[17:] for i in later}) == 50  # 36 random digits each


def test_short_ids_are_random_only() -> None:
    ids = [token_id("cntr", 32) for _ in range(50)]
    assert all(re.fullmatch(r"cntr_[0-9a-f]{32}", i) for i in ids) and len({i[5:13] for i in ids}) > 40
    assert re.fullmatch(r"file-[0-9a-f]{24}", token_id("file", 24, "-"))
    assert re.fullmatch(r"worker_[0-9a-f]{25}", token_id("worker", 25))
