"""A Python program that joins the task that started it
(taskhost.run_child): its steps go under the step that started it. Its
first argument is the directory of the Python SDK."""

import sys

sys.path.insert(0, sys.argv[1])

import taskhost  # noqa: E402


def main(t):
    t.log.info("the python child says hello")
    with t.step("python child"):
        with t.step("inner"):
            t.log.info("inner of the python child")


taskhost.run_child(main)
