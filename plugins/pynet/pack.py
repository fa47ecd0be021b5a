"""pynet: the example Python pack.

Build it:    make build   (python3 -m taskhost build plugins/pynet -o bin/pynet)
By hand:     bin/pynet describe
             bin/pynet run testscript --arg device=r1 --arg 'down=["Gi0/2"]'
"""

import socket
import time

from taskhost import Output, Pack, T

pack = Pack("pynet", "0.1.0")


@pack.task("ping", doc="Pings a host: resolves it, then connects to a TCP port count times.",
           outputs=[Output("address", "the address the host resolved to")])
def ping(t: T, host: str, port: int = 22, count: int = 3):
    with t.step("resolve " + host):
        address = socket.gethostbyname(host)
        t.log.info("%s is %s", host, address)
        t.set_output("address", address)
    with t.step("ping", continue_=True) as step:
        lost, rtts = 0, []
        for _ in range(count):
            start = time.monotonic()
            try:
                socket.create_connection((address, port), timeout=2).close()
                rtts.append(round((time.monotonic() - start) * 1000, 3))
            except OSError as e:
                t.log.info("%s:%d: %s", address, port, e)
                lost += 1
        t.set_data({"sent": count, "lost": lost, "rtt_ms": rtts})
        if lost:
            step.failed(f"{lost} of {count} packets lost")


@pack.task("relay", doc="Takes an address and port (a Go task's outputs, say), adds times to the "
           "shared counter key, and sets the outputs target (\"addr:port\") and count (the counter after).",
           outputs=[Output("target", "addr:port"), Output("count", "the counter key after the additions")])
def relay(t: T, addr: str, port: int, key: str = "hits", times: int = 1):
    with t.step("target"):
        target = f"{addr}:{port}"
        t.log.info("target %s", target)
        t.set_output("target", target)
    with t.step(f"add {times} to {key}"):
        n = 0
        for _ in range(times):
            n = t.state.add(key, 1)
        t.set_data({"key": key, "count": n})
        t.set_output("count", n)


INTERFACES = ["Gi0/1", "Gi0/2", "Gi0/3"]


@pack.task("testscript", doc="An aetest-style testscript: common setup, two testcases (interfaces, "
           "routes) and common cleanup. Interfaces named in down fail their step; nothing is contacted.")
def testscript(t: T, device: str, down: list[str] = [], bgp: bool = False):
    with t.section("common_setup"):
        with t.step("connect to " + device):
            t.log.info("connected to %s", device)
        with t.step("check the version"):
            t.set_data({"version": "17.9.4"})
    with t.section("interfaces", continue_=True):
        for name in INTERFACES:
            with t.step(name + " is up", continue_=True) as step:
                if name in down:
                    step.failed(f"{name} is down (expected up)")
    with t.section("routes", continue_=True):
        with t.step("default route"):
            t.log.info("0.0.0.0/0 via 192.0.2.1")
        with t.step("bgp neighbours") as step:
            if not bgp:
                step.skipped("no BGP on " + device)
    with t.section("common_cleanup"):
        with t.step("disconnect"):
            t.log.info("disconnected from %s", device)


if __name__ == "__main__":
    pack.run()
