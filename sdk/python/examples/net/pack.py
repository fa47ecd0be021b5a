#!/usr/bin/env python3
"""net: a small taskhost pack in Python, the Python SDK's example.

Run it by hand:

    ./pack.py describe
    ./pack.py run ping --arg host=localhost --arg count=3
"""

import re
import shutil
import socket
import time

from taskhost import Output, Pack, T

pack = Pack("net", "0.1.0")


def tcp_ping(addr, timeout=1.0):
    """The time a TCP handshake (or its refusal) with addr takes, in ms;
    None when the host does not answer."""
    start = time.monotonic()
    try:
        socket.create_connection((addr, 7), timeout).close()
    except ConnectionRefusedError:
        pass  # refused: the host answered
    except OSError:
        return None
    return (time.monotonic() - start) * 1000


@pack.task("ping", doc="Pings a host.", outputs=[Output("rtt", "the average round trip, in ms")])
def ping(t: T, host: str, count: int = 3):
    with t.step("resolve " + host):
        addr = socket.gethostbyname(host)
        t.log.info("%s is %s", host, addr)
    with t.step("ping", continue_=True) as step:
        if shutil.which("ping"):
            # The ping command, as a child process of the task: its
            # output goes to the task's pid-<pid>.log too.
            p = t.command(["ping", "-n", "-c", str(count), "-W", "1", addr], stdout=-1, text=True)
            out, _ = p.communicate()
            got = re.search(r"(\d+) received", out)
            avg = re.search(r"= [\d.]+/([\d.]+)/", out)
            received, rtt = int(got.group(1)) if got else 0, float(avg.group(1)) if avg else None
        else:
            t.log.info("no ping command here: timing TCP handshakes instead")
            rtts = [r for r in (tcp_ping(addr) for _ in range(count)) if r is not None]
            received, rtt = len(rtts), (sum(rtts) / len(rtts) if rtts else None)
        step.set_data({"sent": count, "received": received, "rtt_ms": rtt})
        if rtt is not None:
            t.set_output("rtt", round(rtt, 3))
        if received < count:
            step.failed("%d of %d packets lost" % (count - received, count))


if __name__ == "__main__":
    pack.run()
