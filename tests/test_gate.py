"""The model gate of the web page: first come, first served, one (or ``width``) at a time (fast)."""

from __future__ import annotations

import threading
import time

from ragmix.app.gate import Gate


def _users(gate: Gate, n: int, hold_s: float) -> tuple[list[int], int]:
    """``n`` users who joined the line in order (their threads start in reverse), each
    holding its turn ``hold_s``: the order they passed in, and the most inside at once."""
    order: list[int] = []
    inside = most_inside = 0
    lock = threading.Lock()
    tickets = [gate.join() for _ in range(n)]  # arrival order fixed before the threads run

    def user(i: int) -> None:
        nonlocal inside, most_inside
        while not gate.ready(tickets[i], 0.05):
            pass
        with lock:
            inside += 1
            most_inside = max(most_inside, inside)
            order.append(i)
        time.sleep(hold_s)
        with lock:
            inside -= 1
        gate.leave(tickets[i])

    threads = [threading.Thread(target=user, args=(i,)) for i in reversed(range(n))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return order, most_inside


def test_tickets_pass_in_arrival_order_one_at_a_time() -> None:
    gate = Gate()
    order, most_inside = _users(gate, 6, 0.01)
    assert order == [0, 1, 2, 3, 4, 5]
    assert most_inside == 1
    assert len(gate) == 0


def test_leaving_the_line_lets_the_next_one_pass() -> None:
    gate = Gate()
    a, b, c = gate.join(), gate.join(), gate.join()
    assert gate.ready(a, 0) and not gate.ready(c, 0.01)
    assert gate.ahead(c) == 2
    gate.leave(b)  # a closed tab gives up its place while waiting
    assert gate.ahead(c) == 1
    gate.leave(a)
    assert gate.ready(c, 0)
    gate.leave(c)
    gate.leave(c)  # idempotent
    assert len(gate) == 0


def test_a_waiter_wakes_as_soon_as_its_turn_comes() -> None:
    gate = Gate()
    a, b = gate.join(), gate.join()
    threading.Timer(0.05, gate.leave, args=(a,)).start()
    t0 = time.perf_counter()
    assert gate.ready(b, 5.0)
    assert time.perf_counter() - t0 < 2.0  # woken by leave(), not by the 5 s timeout


def test_a_wide_gate_lets_width_through_in_arrival_order() -> None:
    """A model server with N slots: N answers at once, never more, still in arrival order."""
    probe = Gate(3)
    tickets = [probe.join() for _ in range(9)]
    assert [probe.ahead(t) for t in tickets] == [0, 0, 0, 1, 2, 3, 4, 5, 6]
    gate = Gate(3)
    order, most_inside = _users(gate, 9, 0.05)
    assert most_inside == 3
    assert sorted(order[:3]) == [0, 1, 2] and sorted(order[3:6]) == [3, 4, 5]
    assert len(gate) == 0
