"""pyedge: a Python pack doing what pack authors do by accident, for the
end-to-end tests: printing during the run, reasons and names that are not
UTF-8, step data over the limit, a step waiting on a thread that raised,
a failing step in a thread."""

import os
import subprocess
import sys
import threading

from taskhost import Pack, T

pack = Pack("pyedge", "1.0.0")


@pack.task("prints", doc="Writes to stdout during the run in every way a task does.")
def prints(t: T):
    with t.step("print"):
        print("printed to stdout")
        sys.stdout.write("written to sys.stdout\n")
        sys.stdout.flush()
        os.write(1, b"raw write to fd 1\n")
        subprocess.run(["echo", "a child inheriting fd 1"], check=True)


@pack.task("badtext", doc="Fails a step with a reason that is not UTF-8 (kind: surrogate or bytes); "
           "then runs a step whose name is not.")
def badtext(t: T, kind: str = "surrogate"):
    with t.step("bad", continue_=True) as s:
        if kind == "surrogate":
            s.failed(os.fsdecode(b"port \xff\xfe down"))
        elif kind == "bytes":
            s.failed(b"port \xff\xfe down")
    with t.step(os.fsdecode(b"name \xff")):
        pass


@pack.task("hugedata", doc="Sets mb MiB of step data, then runs one more step.")
def hugedata(t: T, mb: int = 10):
    with t.step("huge") as s:
        s.set_data({"blob": "x" * (mb << 20)})
    with t.step("after"):
        pass


@pack.task("threadraise", doc="A step waits forever for a thread that raised before it could say it was done.")
def threadraise(t: T):
    with t.step("wait for the worker"):
        done = threading.Event()

        def work():
            raise RuntimeError("the worker broke")

        threading.Thread(target=work).start()
        done.wait()


@pack.task("threadstep", doc="A step in a thread raises.")
def threadstep(t: T):
    with t.step("outer", continue_=True) as s:
        def work():
            with s.step("in the thread"):
                raise RuntimeError("the worker broke")

        th = threading.Thread(target=work)
        th.start()
        th.join()
    with t.step("after"):
        pass


if __name__ == "__main__":
    pack.run()
