"""The model gate of the web page: first come, first served, one (or ``width``) at a time (fast)."""

from __future__ import annotations

import threading
import time

from ragmix.app.gate import Gate


def test_tickets_pass_in_arrival_order_one_at_a_time() -> None:
    gate = Gate()
    order: list[int] = []
    inside = 0
    most_inside = 0
    lock = threading.Lock()
    tickets = [gate.join() for _ in range(6)]  # arrival order fixed before the threads run

    def user(i: int) -> None:
        nonlocal inside, most_inside
        while not gate.ready(tickets[i], 0.05):
            pass
        with lock:
            inside += 1
            most_inside = max(most_inside, inside)
            order.append(i)
        time.sleep(0.01)
        with lock:
            inside -= 1
        gate.leave(tickets[i])

    threads = [threading.Thread(target=user, args=(i,)) for i in reversed(range(6))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
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
    gate = Gate(3)
    order: list[int] = []
    inside = most_inside = 0
    lock = threading.Lock()
    tickets = [gate.join() for _ in range(9)]
    assert [gate.ahead(t) for t in tickets] == [0, 0, 0, 1, 2, 3, 4, 5, 6]

    def user(i: int) -> None:
        nonlocal inside, most_inside
        while not gate.ready(tickets[i], 0.05):
            pass
        with lock:
            inside += 1
            most_inside = max(most_inside, inside)
            order.append(i)
        time.sleep(0.05)
        with lock:
            inside -= 1
        gate.leave(tickets[i])

    threads = [threading.Thread(target=user, args=(i,)) for i in reversed(range(9))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert most_inside == 3
    assert sorted(order[:3]) == [0, 1, 2] and sorted(order[3:6]) == [3, 4, 5]
    assert len(gate) == 0
