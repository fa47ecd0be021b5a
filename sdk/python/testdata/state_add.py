"""Adds 1 to the counter "count" N times; prints the last value add returned."""
import sys

import hubenv
from taskhost import _state

h = hubenv.hub()
st = _state.State(h.state_socket, h.token, "adder")
v = 0
for _ in range(int(sys.argv[1])):
    v = st.add("count", 1)
print(v)
