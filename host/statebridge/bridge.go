package statebridge

import (
	"encoding/binary"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/taskhost/taskhost/internal/statekv"
)

// The headers of the bridge's messages. A request's data is one frame's
// message of the state protocol (without its length), and so is an
// answer's and a pumped change's.
const (
	// hConn names the Front's connection a request comes from; on every
	// request, and on a close.
	hConn = "Th-Conn"
	// hOpen marks a connection's first request (its hello).
	hOpen = "Th-Open"
	// hClose says the Front's connection ended (a message without
	// data, not a request).
	hClose = "Th-Close"
	// hPump, on a watch request, is the subject the Responder sends the
	// watch's changes to.
	hPump = "Th-Pump"
	// hGone, on an answer, says the Responder has no such connection
	// (any more) and made no request: the Front closes its connection.
	hGone = "Th-Gone"
	// hSeq numbers a pumped change from 1; on a keepalive or an end, it
	// is the number of the last change sent.
	hSeq = "Th-Seq"
	// hKeepalive and hEnd mark a pumped message that carries no change:
	// the watch goes on, or the server's connection ended.
	hKeepalive = "Th-Keepalive"
	hEnd       = "Th-End"
)

const (
	// margin is how much longer than the server may hold a request the
	// Front waits for its answer before it closes the task's connection.
	margin = 2 * time.Second
	// answerWait is how long the Front waits for an answer.
	answerWait = statekv.MaxWait + margin
	// keepalive is how often the Responder tells a quiet watch's Front
	// that it still pumps; the Front takes twice as long without a word
	// as the pump lost.
	keepalive = time.Second
	// serverWait is how long the Responder waits for the state server's
	// answer on its own machine.
	serverWait = statekv.MaxWait + margin
	// idleAfter is how long the Responder keeps a connection no request
	// came on (a connection the SDK keeps but no longer uses, or one whose
	// close was lost). A request on it afterwards is answered hGone, and
	// the SDK asks again on a new connection.
	idleAfter = 5 * time.Minute
	// maxConns bounds the connections the Responder keeps for one agent.
	maxConns = 4096
)

// writeFrame writes msg as one frame of the state protocol.
func writeFrame(c net.Conn, msg []byte, deadline time.Time) error {
	b := make([]byte, 4, 4+len(msg))
	binary.BigEndian.PutUint32(b, uint32(len(msg)))
	b = append(b, msg...)
	if err := c.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := c.Write(b)
	return err
}

// seqOf is a pumped message's number.
func seqOf(m *nats.Msg) (uint64, bool) {
	n, err := strconv.ParseUint(m.Header.Get(hSeq), 10, 64)
	return n, err == nil
}
