"""What the tests' scripts share: the hub a Go test gives them, in
TASKHOST_TEST_HUB (JSON of the Hub message's fields)."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from taskhost import _wire  # noqa: E402


def hub():
    return _wire.Hub(**json.loads(os.environ["TASKHOST_TEST_HUB"]))
