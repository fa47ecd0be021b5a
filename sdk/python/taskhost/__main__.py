"""python3 -m taskhost: the SDK's command line.

    python3 -m taskhost build DIR [-o OUT] [--python INTERPRETER]
"""

import sys

_USAGE = """usage: python3 -m taskhost build DIR [-o OUT] [--python INTERPRETER]

Commands:
  build   build the pack in DIR into one executable file (a zipapp)
"""


def main(argv):
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(_USAGE)
        return 0 if argv else 2
    if argv[0] == "build":
        from taskhost import _build
        return _build.main(argv[1:])
    sys.stderr.write(f"python3 -m taskhost: unknown command {argv[0]!r}\n\n{_USAGE}")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
