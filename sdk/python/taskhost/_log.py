"""Log files and log lines in the Go SDK's format.

A task's lines go to tasks/<id>/task.log (a child's to pid-<pid>.log) as
go-hclog writes them:

    2026-12-03T18:14:48.984Z [INFO]  checks: STEP 2.2: Gi0/2 is up: step=2.2

and a step knows where its lines are by the file's size when it starts and
ends (LogFile.end, LogFile.ref).
"""

import logging
import os
import time

# The logger that t.logger is; its lines carry the task id as their name.
LOGGER = "taskhost.task"


def perm(d):
    """The mode of a new log file in directory d: d's read and write bits."""
    try:
        return os.stat(d).st_mode & 0o666
    except OSError:
        return 0o600


def run_rel(d, name):
    """The path, relative to the run directory, of name in the log
    directory d (<run>/tasks/<id> or <run>/hooks/<call>)."""
    d = d.rstrip("/")
    return os.path.join(os.path.basename(os.path.dirname(d)), os.path.basename(d), name)


class LogFile:
    """A process's log file in the run directory, opened for appending;
    each write is one line, masked. Failed writes are counted (a full disk
    must not lose lines unsaid)."""

    def __init__(self, fd, rel, masker=None):
        self.fd = fd
        self.rel = rel
        self.masker = masker
        self.failed = 0
        self.err = None

    @classmethod
    def open(cls, d, name, masker=None):
        fd = os.open(os.path.join(d, name), os.O_CREAT | os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC, perm(d))
        return cls(fd, run_rel(d, name), masker)

    def write(self, text):
        if self.masker is not None:
            text = self.masker.string(text)
        data = text.encode("utf-8", "backslashreplace")
        try:
            while data:
                n = os.write(self.fd, data)
                data = data[n:]
        except OSError as e:
            self.failed += 1
            if self.err is None:
                self.err = e
            return False
        return True

    def failures(self):
        return self.failed

    def lost_since(self, mark):
        """How many lines were lost since failures() was mark, and why; ""
        if none."""
        n = self.failed - mark
        if n <= 0:
            return ""
        err = self.err.strerror if isinstance(self.err, OSError) and self.err.strerror else str(self.err)
        return "%d log %s not written to %s: %s" % (n, "line" if n == 1 else "lines", self.rel, err.lower())

    def end(self):
        """The file's size: where the next line goes."""
        try:
            return os.lseek(self.fd, 0, os.SEEK_END)
        except OSError:
            return 0

    def ref(self, begin):
        """The range from begin to the file's end, as an event's logs."""
        return {"file": self.rel, "begin": begin, "size": self.end() - begin}

    def close(self):
        try:
            os.close(self.fd)
        except OSError:
            pass


class StreamSink:
    """A sink for log lines on a text stream (stderr, when a task runs by
    hand)."""

    def __init__(self, stream, masker=None):
        self.stream = stream
        self.masker = masker

    def write(self, text):
        if self.masker is not None:
            text = self.masker.string(text)
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            return False
        return True


_LEVELS = ((40, "[ERROR]"), (30, "[WARN] "), (20, "[INFO] "), (10, "[DEBUG]"))


def level_bracket(levelno):
    for n, s in _LEVELS:
        if levelno >= n:
            return s
    return "[TRACE]"


_stamp = [None, "", ""]  # the second last written, its text and zone


def timestamp(t):
    """t (time.time()) as go-hclog writes it: 2006-01-02T15:04:05.000Z0700."""
    sec = int(t)
    ms = int((t - sec) * 1000)
    c = _stamp
    if c[0] != sec:
        lt = time.localtime(sec)
        off = lt.tm_gmtoff or 0
        if off == 0:
            zone = "Z"
        else:
            sign = "-" if off < 0 else "+"
            off = abs(off)
            zone = "%s%02d%02d" % (sign, off // 3600, off % 3600 // 60)
        c[:] = [sec, time.strftime("%Y-%m-%dT%H:%M:%S", lt), zone]
    return "%s.%03d%s" % (c[1], ms, c[2])


def _normal(s):
    for c in s:
        if not "-" <= c <= "~":
            return False
    return True


def _escape(s):
    out = []
    for c in s:
        if c == '"':
            out.append('\\"')
        elif c.isprintable():
            out.append(c)
        else:
            out.append(repr(c)[1:-1])
    return "".join(out)


def format_line(t, levelno, name, msg, kvs=()):
    """One line as go-hclog writes it, with its key=value pairs."""
    parts = [timestamp(t), " ", level_bracket(levelno), " "]
    if name:
        parts.append(name)
        if msg:
            parts.append(": ")
            parts.append(msg)
    else:
        parts.append(msg)
    if kvs:
        parts.append(":")
        for k, v in kvs:
            v = str(v)
            if v == "":
                parts.append(" %s=\"\"" % k)
            elif "\n" in v:
                parts.append("\n  %s=\n" % k)
                for ln in v.split("\n"):
                    if ln:
                        parts.append("  | " + ln + "\n")
                parts.append("  ")
            elif not _normal(v):
                parts.append(' %s="%s"' % (k, _escape(v)))
            else:
                parts.append(" %s=%s" % (k, v))
    parts.append("\n")
    return "".join(parts)


class Handler(logging.Handler):
    """Writes Python logging records to a sink (a LogFile or a StreamSink)
    as go-hclog lines: the name is the task id (a logger other than
    t.logger adds its own name), and a line logged while a step runs says
    step=<id>."""

    def __init__(self, sink, name, current_step=None, extra_kvs=()):
        super().__init__(logging.NOTSET)
        self.sink = sink
        self.name_ = name
        self.current_step = current_step
        self.extra_kvs = tuple(extra_kvs)

    def line(self, levelno, msg, kvs=()):
        """Writes one line of the SDK's own (a step's start and end), as
        t.logger would, without the cost of a logging record."""
        kv = list(self.extra_kvs)
        step = self.current_step() if self.current_step else ""
        if step:
            kv.append(("step", step))
        if kvs:
            kv.extend(kvs)
        self.sink.write(format_line(time.time(), levelno, self.name_, msg, kv))

    def emit(self, record):
        try:
            msg = record.getMessage()
            if record.exc_info:
                if not record.exc_text:
                    record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                msg = msg + "\n" + record.exc_text if msg else record.exc_text
            if record.stack_info:
                msg = msg + "\n" + record.stack_info
            name = self.name_
            if record.name not in (LOGGER, "root"):
                name = name + "." + record.name if name else record.name
            kvs = list(self.extra_kvs)
            step = self.current_step() if self.current_step else ""
            if step:
                kvs.append(("step", step))
            extra = getattr(record, "kv", None)
            if extra:
                kvs.extend(extra)
            self.sink.write(format_line(record.created, record.levelno, name, msg, kvs))
        except Exception:  # a log line must never break the task
            self.handleError(record)


def go_duration(seconds):
    """A duration rounded to the millisecond, as Go's Duration.String
    writes it: "0s", "12ms", "1.5s", "2m3.25s"."""
    ms = int(round(seconds * 1000))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return "%dms" % ms
    h, rest = divmod(ms, 3600000)
    m, rest = divmod(rest, 60000)
    s = rest / 1000.0
    sec = ("%.3f" % s).rstrip("0").rstrip(".") + "s"
    if h:
        return "%dh%dm%s" % (h, m, sec)
    if m:
        return "%dm%s" % (m, sec)
    return sec
