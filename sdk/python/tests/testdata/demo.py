#!/usr/bin/env python3
"""A Python port of the Go demo pack's tasks (plugins/demo), for the SDK's
tests: the same tasks must give the same trees, logs and exit codes."""

import dataclasses
import logging
import sys
import time
from typing import Annotated, Any, Optional

from taskhost import Hook, Output, Pack, T

pack = Pack("demo", "0.1.0")


@pack.task("hello", doc="Greets someone and passes.")
def hello(t: T, name: Annotated[str, "who to greet"], times: Annotated[int, "how many greetings (default 1)"] = 1):
    n = max(times, 1)
    with t.step("greet") as s:
        for i in range(n):
            t.log.info("hello, %s (%d of %d)", name, i + 1, n)
        s.set_data({"name": name, "greetings": n})


@pack.task("checks", doc="A testscript with setup, testcases and cleanup, whose steps end in every result.")
def checks(t: T, device: Annotated[str, "the device under test (only logged)"] = ""):
    with t.section("setup"):
        with t.step("connect") as s:
            t.log.info("connecting to %s", device)
            s.set_data({"device": device, "os": "iosxe"})
    with t.section("interfaces", continue_=True):
        with t.step("Gi0/1 is up"):
            pass
        with t.step("Gi0/2 is up", continue_=True) as s:
            s.failed("Gi0/2 is down (expected up)")
        with t.step("Gi0/3 counters", continue_=True):
            with t.step("input errors") as s:
                s.set_data({"input_errors": 0})
            with t.step("CRC errors") as s:
                s.passx("3 CRC errors, under the limit of 10")
    with t.section("routing", continue_=True):
        with t.step("OSPF neighbours") as s:
            s.skipped("OSPF is not configured on this device")
        with t.step("BGP sessions", continue_=True) as s:
            s.blocked("needs the BGP feature set")
    with t.section("cleanup"):
        with t.step("disconnect"):
            t.log.info("disconnected")


@pack.task("wait", doc="Waits for a while, then passes; stops early when told to.")
def wait(t: T, seconds: float = 1.0):
    with t.step("wait %gs" % seconds):
        time.sleep(seconds)


@pack.task("crash", doc="Raises in a step: the step and the task are Errored, with the traceback in the log.")
def crash(t: T):
    with t.step("before the crash"):
        t.log.info("all is well")
    with t.step("the crash"):
        m = {}
        m["boom"] += 1
    with t.step("never"):
        pass


@pack.task("lookup", doc="Looks up a device's address (made up from its name) and sets it as the output addr.",
           outputs=[Output("addr", "the device's address, a documentation address (192.0.2.x)"),
                    Output("name", "the name looked up")])
def lookup(t: T, name: Annotated[str, "the device name to look up"]):
    with t.step("resolve " + name):
        h = 0x811C9DC5  # FNV-1a, as the Go demo
        for b in name.encode():
            h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
        addr = "192.0.2.%d" % (1 + h % 254)
        t.log.info("%s is %s", name, addr)
        t.set_output("addr", addr)
        t.set_output("name", name)


@dataclasses.dataclass
class Port:
    name: str
    speed: int = 1000
    tags: Optional[list[str]] = None


@pack.task("kinds", doc="Takes every kind of argument and logs what it got.")
def kinds(t: T, s: str, n: int, f: float, b: bool, l: list[int], m: dict[str, str], port: Port,
          ports: list[Port] = (), anything: Any = None, maybe: Optional[int] = None, logged: bool = False):
    got = {"s": s, "n": n, "f": f, "b": b, "l": l, "m": m, "port": dataclasses.asdict(port),
           "ports": [dataclasses.asdict(p) for p in ports], "anything": anything, "maybe": maybe}
    t.set_data(got)
    if logged:
        logging.getLogger("lib").warning("a library logs through the root logger")
        print("a print to stderr", file=sys.stderr)


@pack.task("exit", doc="Exits the process with a status.")
def exit_(t: T, status: int = 3):
    with t.step("exit"):
        sys.exit(status)


@pack.task("secret", doc="Logs and reports its password.")
def secret(t: T, password: str):
    with t.step("login with " + password, continue_=True) as s:
        t.log.info("using %s", password)
        print("printed " + password, file=sys.stderr)
        s.failed("refused " + password)
    t.failed("wrong password " + password)


@pack.task("ask", doc="Asks the user a name and greets them (taskhost run --interactive).")
def ask(t: T):
    with t.step("ask") as s:
        print("your name? ", end="", flush=True)
        name = input()
        print("hello, " + name)
        s.set_data({"name": name})


@pack.task("children", doc="Starts a Python child and, given go_pack, a Go pack's run mode as a child: both report under the step that started them.")
def children(t: T, go_pack: str = ""):
    import os
    with t.step("python child", continue_=True) as s:
        p = t.command([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "child.py")])
        s.set_data({"exit": p.wait(), "log": p.log_file})
    if go_pack:
        with t.step("go child") as s:
            p = t.command([go_pack, "run", "hello", "--arg", "name=python"])
            s.set_data({"exit": p.wait(), "log": p.log_file})


@pack.hook("notify", doc="Says where it runs.", stages=["post_task", "post_job"])
def notify(t: T, hook: Hook, url: str = ""):
    with t.step("notify %s at %s" % (hook.task, hook.stage)) as s:
        s.set_data({"job": hook.results.get("job"), "url": url})


if __name__ == "__main__":
    pack.run()
