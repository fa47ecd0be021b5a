// Package logship carries the log files of an attempt run on an agent to
// the host's run directory, byte for byte.
//
// On the agent, a Shipper tails every regular file of the attempt's log
// directory (task.log, and each pid-<pid>.log as it appears), polling it,
// and publishes what each file gained as chunks of at most MaxChunk
// bytes on the agent's log subject of the attempt's slot, into the run's
// log stream (agentwire's LogStream). A chunk carries its file and
// offset, and a message id naming its bytes (agentwire.LogMsgID). The
// file itself is the shipper's buffer: it remembers how far each file is
// acknowledged and sends again from there what was not (after a
// reconnect, say). Finish ships each file up to where it ends when
// Finish is called and returns once all of it is acknowledged, or its
// context ends. A shipper stopped without Finish loses what the files
// gained since its last poll.
//
// On the host, a Sink makes the log stream and reads it, and writes each
// chunk at its offset into the file of the same name in the attempt's
// directory of the run directory (tasks/<id>). A chunk lands on the same
// bytes however often and in whatever order it comes, so nothing is
// doubled. The Sink takes chunks of a slot only from the agent it was
// told runs it (Allow), and refuses a file name that is not a plain name
// in that directory (CheckName).
//
// host/agent gives each call a log directory of its own, ending in
// tasks/<id> as the host's does, with the files the host already has
// (an earlier attempt's) made as long as the host's copies, and ships it
// from there (ShipperConfig.From); host/remote allows the slot before
// the call, and once the agent reports the call's end with where each
// file is acknowledged (Shipper.Acked), waits for the sink to have that
// (Sink.Await) before it ends the slot.
package logship
