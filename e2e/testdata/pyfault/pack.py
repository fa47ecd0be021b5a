"""pyfault: a Python pack that fails in every way a process can, for the
end-to-end tests. Its behaviour at start-up follows the name it runs
under (as the Go testpack's): chatty writes to fd 1 before serving,
printy prints before serving, otherproto speaks only protocol 99."""

import os
import signal
import subprocess
import sys
import time

NAME = os.path.basename(sys.argv[0])
if NAME == "chatty":
    # Breaks the plugin handshake: a raw write to fd 1, which no SDK can
    # keep off it.
    os.write(1, b"hello from main\n")
elif NAME == "printy":
    # print() before the pack's imports: the SDK sends it to the log.
    print("a stray line before serving")

from taskhost import Pack, T  # noqa: E402

if NAME == "otherproto":
    from taskhost import _plugin

    _plugin.VERSIONS = (99,)

pack = Pack("pyfault", "1.0.0")


@pack.task("pass", doc="Passes.")
def pass_(t: T):
    with t.step("ok"):
        pass


@pack.task("exception", doc="Raises in a step.")
def exception(t: T):
    with t.step("divide"):
        raise ValueError("no route to 192.0.2.9")


@pack.task("exit", doc="Exits the process with status, in a step.")
def exit_(t: T, status: int):
    with t.step("exit"):
        sys.exit(status)


@pack.task("kill", doc="Kills its own process with SIGKILL, in a step.")
def kill(t: T):
    with t.step("kill"):
        os.kill(os.getpid(), signal.SIGKILL)


@pack.task("hang", doc="Ignores cancellation and sleeps; starts a child that ignores SIGTERM and writes its pid to child_pid_file.")
def hang(t: T, child_pid_file: str = ""):
    with t.step("hang"):
        if child_pid_file:
            child = subprocess.Popen([sys.executable, "-c",
                                      "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(3600)"])
            with open(child_pid_file + ".tmp", "w") as f:
                f.write(str(child.pid))
            os.rename(child_pid_file + ".tmp", child_pid_file)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    pack.run()
