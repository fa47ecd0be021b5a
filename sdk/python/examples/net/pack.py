#!/usr/bin/env python3
"""net: a small taskhost pack in Python, the Python SDK's example."""

import re
import shutil
import socket

from taskhost import Output, Pack, T

pack = Pack("net", "0.1.0")


@pack.task("ping", doc="Pings a host.", outputs=[Output("rtt", "the average round trip, in ms")])
def ping(t: T, host: str, count: int = 3):
    with t.step("resolve " + host):
        addr = socket.gethostbyname(host)
        t.logger.info("%s is %s", host, addr)
    with t.step("ping", continue_=True) as step:
        if shutil.which("ping") is None:
            step.skipped("no ping command on this machine")
        p = t.command(["ping", "-n", "-c", str(count), "-W", "1", addr], stdout=-1, text=True)
        out, _ = p.communicate()
        got = re.search(r"(\d+) received", out or "")
        received = int(got.group(1)) if got else 0
        rtt = re.search(r"= [\d.]+/([\d.]+)/", out or "")
        if rtt:
            t.set_output("rtt", float(rtt.group(1)))
        step.set_data({"sent": count, "received": received})
        if received < count:
            step.failed("%d of %d packets lost" % (count - received, count))


if __name__ == "__main__":
    pack.run()
