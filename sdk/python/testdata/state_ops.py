"""Uses every operation of the shared state and checks what each returns;
prints "ok", or fails."""
import faulthandler
import threading

faulthandler.dump_traceback_later(60, exit=True)

import hubenv
from taskhost import _state

h = hubenv.hub()
st = _state.State(h.state_socket, h.token, "ops")


def raises(cls, fn, *args):
    try:
        fn(*args)
    except cls as e:
        return str(e)
    raise AssertionError("%s%r did not raise %s" % (fn.__name__, args, cls.__name__))


changes = st.watch("w.")
r1 = st.put("w.a", {"x": [1, 2]})
assert st.get("w.a") == ({"x": [1, 2]}, r1), st.get("w.a")
raises(_state.NotFound, st.get, "nothing.here")
r2 = st.create("w.b", "first")
assert "already exists" in raises(_state.Exists, st.create, "w.b", "again")
r3 = st.compare_and_swap("w.b", "second", r2)
msg = raises(_state.Conflict, st.compare_and_swap, "w.b", "third", r2)
assert msg == 'revision is not the latest: "w.b" is at revision %d, not %d' % (r3, r2), msg
assert st.keys("w.") == ["w.a", "w.b"], st.keys("w.")
st.delete("w.a")
st.delete("w.a")  # no value: no error
assert st.keys("w.") == ["w.b"]
assert st.add("n") == 1 and st.add("n", 41) == 42 and st.add("n", -2) == 40
assert "not an integer counter" in raises(_state.NotCounter, st.add, "w.b")
assert "invalid key" in raises(_state.BadKey, st.put, "a b", 1)
assert "store's own" in raises(_state.BadKey, st.put, "_x", 1)
assert "over the limit" in raises(_state.TooLarge, st.put, "big", "x" * (600 << 10))
got = [next(changes) for _ in range(4)]
want = [("w.a", {"x": [1, 2]}, r1, False), ("w.b", "first", r2, False), ("w.b", "second", r3, False),
        ("w.a", None, got[3].revision, True)]
assert [(c.key, c.value, c.revision, c.deleted) for c in got] == want, got
assert got[3].revision > r3
changes.close()

# A lock: a second holder waits until the first lets go.
order = []
with st.lock("l", lease=3) as lk:
    t = threading.Thread(target=lambda: (st.lock("l").__enter__(), order.append("second")))
    t.start()
    t.join(1.5)
    order.append("first")
t.join(10)
assert order == ["first", "second"], order
assert "lock not held" in raises(_state.NotHolder, lk.unlock)

# A barrier of 3 lets all go together.
done = []
ts = [threading.Thread(target=lambda: (st.barrier("b", 3), done.append(1))) for _ in range(2)]
for t in ts:
    t.start()
for t in ts:
    t.join(1)
assert done == []
st.barrier("b", 3, timeout=10)
for t in ts:
    t.join(10)
assert done == [1, 1]
assert "barrier misuse" in raises(_state.BarrierError, st.barrier, "b", 4)
assert "not released within" in raises(_state.BarrierError, st.barrier, "c", 2, 1.5)
assert "needs a host" in raises(_state.NoState, _state.State("", "", "x").get, "k")
print("ok")
