package emit

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/taskhost/taskhost/internal/eventwire"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/report"
)

// Hub publishes events to the run's JetStream stream on the hub,
// in batches: an event goes at once when nothing is in flight; otherwise
// it joins the next batch, which goes when it holds maxBatch events or
// maxBatchBytes, when it is batchLinger old, or at flush. Every batch carries a message
// id, so the hub stores each once however often it is sent; a batch whose
// acknowledgement does not come is sent again until it does, or until the
// hub has acknowledged nothing for ackWait, or at once when the hub's
// answer is final (refusal): then reporting has failed, and the events
// from then on are dropped (the hub applies a process's events in order,
// so none after a lost one could count).
type Hub struct {
	seqStamp
	// reconnected is closed (and replaced) each time the connection comes
	// back; gen counts those times. Guarded by rmu.
	rmu         sync.Mutex
	gen         uint64
	reconnected chan struct{}
	// closed is closed when the connection gives up for good.
	closed    chan struct{}
	closeOnce sync.Once

	nc      *nats.Conn
	subject string
	idPre   string
	// replies takes the hub's answers to the batches: a batch is sent
	// with the reply subject replyPre and the number of its first event,
	// under the task's inbox.
	replies  *nats.Subscription
	replyPre string
	// batch is the EventBatch being filled (encoded), holding the events
	// from first; guarded by mu.
	batch []byte
	first uint64
	// unacked holds the batches sent and not yet acknowledged, in order
	// (those acknowledged out of order stay until those before them are).
	unacked []*sent
	stop    chan struct{}
	// amu guards waiting and each batch's answer (sent.acked,
	// sent.answer), which the subscription's goroutine sets; answered
	// is signalled when it did.
	amu      sync.Mutex
	waiting  map[uint64]*sent
	answered chan struct{}
	// stored is the last event of those acknowledged in order; lastErr the
	// hub's last refusal of a batch.
	stored  uint64
	lastErr error
	// failed is set once the hub acknowledged nothing for ackWait, or
	// refused the task's events for good (a *refusedError); dropped
	// counts the events emitted since, which were not sent.
	failed  error
	dropped int
	// onRefused, if set, is told once that the hub refused the task's
	// events for good (under mu).
	onRefused func(error)
}

// refusedError is the hub's refusal of a task's events that sending
// again cannot change: its credentials were revoked (the task went over
// its limits, or its attempt ended), a batch is larger than the hub
// takes, or the run's stream is full.
type refusedError struct{ err error }

func (e *refusedError) Error() string {
	return "the hub refuses the task's events for good: " + e.err.Error()
}

func (e *refusedError) Unwrap() error { return e.err }

// refusal says whether err, the hub's answer to a batch (or the
// connection's failure to send it), is final, and why. What is not final
// is sent again: no answer, a dropped connection, a stream that takes
// messages in faster than it stores them (429), a store that cannot write
// (a full disk, which the host waits for).
func refusal(nc *nats.Conn, err error) error {
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrAuthorization):
		// The connection gives up only when the hub refuses its
		// credentials (twice), which it does once it revoked them.
		if last := nc.LastError(); last != nil && !errors.Is(err, last) {
			err = fmt.Errorf("%w: %w", err, last)
		}
		return &refusedError{fmt.Errorf("%w (its credentials were revoked: the task went over its limits, or its attempt ended)", err)}
	case errors.Is(err, nats.ErrMaxPayload):
		return &refusedError{fmt.Errorf("a batch larger than the hub takes: %w", err)}
	case errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum:
		return &refusedError{fmt.Errorf("a batch larger than the hub takes: %w", err)}
	case errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeStoreFailed && isStreamFull(apiErr.Description):
		return &refusedError{fmt.Errorf("the run's stream is full (max_run_bytes): %w", err)}
	}
	return nil
}

// errCodeStoreFailed is JetStream's code for a message its stream did not
// store: for a full disk (which passes) as for a full stream (which does
// not: the run's stream discards nothing), told apart by its description.
const errCodeStoreFailed jetstream.ErrorCode = 10077

// isStreamFull tells nats-server's descriptions of a stream that holds
// its limit.
func isStreamFull(desc string) bool {
	switch strings.ToLower(desc) {
	case "maximum bytes exceeded", "maximum messages exceeded", "maximum messages per subject exceeded":
		return true
	}
	return false
}

// refuse stops the reporting for good: nothing more is sent, and the
// task is told once. mu is held.
func (h *Hub) refuse(err *refusedError) error {
	if h.failed == nil {
		h.failed = err
		if h.onRefused != nil {
			h.onRefused(err)
		}
	}
	return h.failed
}

// RefusedLogger logs, once, that the hub refused the task's events.
func RefusedLogger(logger hclog.Logger) func(error) {
	return func(err error) {
		logger.Error("the hub refuses the task's events for good: no more are sent", "error", errors.Unwrap(err))
	}
}

// Refused says whether err ends reporting for good (the hub refused the
// task's events).
func Refused(err error) bool {
	var r *refusedError
	return errors.As(err, &r)
}

// SetOnRefused sets what is told that the hub refused the task's events.
func (h *Hub) SetOnRefused(fn func(error)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.onRefused = fn
}

// sent is a batch sent and not yet acknowledged in order.
type sent struct {
	first, last uint64
	data        []byte
	id          string    // its message id
	gen         uint64    // connection generation it was last sent on
	due         time.Time // when it is sent again if no answer came
	sendErr     error     // why its last send failed, or the hub's error answer to it
	// Under amu: its acknowledgement came; the hub's last error answer,
	// not yet dealt with.
	acked  bool
	answer error
}

const (
	maxBatch      = 512
	maxBatchBytes = 64 << 10
	batchLinger   = 5 * time.Millisecond
	// maxUnacked bounds how many batches wait for their acknowledgement
	// before emit waits for the oldest.
	maxUnacked = 64
	// maxEventBytes bounds one event; larger step data is replaced by a
	// note saying so (the hub refuses messages over 1 MiB).
	maxEventBytes = 512 << 10
	// retryAfter is how long a batch waits to be sent again after a
	// failed send or an error answer that is not final (the stream's
	// ingest is full, 429; its store cannot write); noStreamRetry after
	// no stream took it (503: none has a leader, as while a cluster
	// elects one, for seconds).
	retryAfter    = 20 * time.Millisecond
	noStreamRetry = 250 * time.Millisecond
)

// ackWait is how long the SDK waits for the hub to acknowledge any of the
// events it waits for (while 64 batches wait, at T.Sync and at the task's
// end) before it gives up: reporting has failed. The host stops a run
// whose store cannot write well before that (after 30 s by default).
// A variable for tests.
var ackWait = time.Minute

// resendAfter is how long a batch may go without an answer before it is
// sent again: its message, or the hub's answer, was lost (the stream's
// leader died with it). A variable for tests.
var resendAfter = 5 * time.Second

// ErrBadCA is wrapped by Dial when the hub's CA (Hub.tls_ca_pem) holds
// no certificate.
var ErrBadCA = errors.New("the hub's CA (tls_ca_pem) holds no PEM certificate")

// tlsOptions are the options that reach the hub h describes over TLS,
// trusting its CA alone, when it names one (tls:// and nats:// URLs
// alike); none for a plain connection.
func tlsOptions(h *packv1.Hub) ([]nats.Option, error) {
	ca := h.GetTlsCaPem()
	if ca == "" {
		return nil, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ca)) {
		return nil, fmt.Errorf("connect to the hub at %s: %w", h.GetUrl(), ErrBadCA)
	}
	return []nats.Option{nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})}, nil
}

// connectError says why connecting to the hub at url failed, with what
// to look at when its certificate is not one the CA the task was given
// signed.
func connectError(url string, withCA bool, err error) error {
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	if withCA && (errors.As(err, &unknown) || errors.As(err, &verify)) {
		return fmt.Errorf("connect to the hub at %s over TLS: %w (the hub's certificate is not signed by the CA the task was given, or does not name the hub's address)", url, err)
	}
	return fmt.Errorf("connect to the hub at %s: %w", url, err)
}

// Dial connects to the hub as the task that h describes; src names
// this process's events ("" for the task process itself). With a CA
// (Hub.tls_ca_pem), the connection is TLS, verified against that CA.
func Dial(h *packv1.Hub, name, src string) (*Hub, error) {
	secure, err := tlsOptions(h)
	if err != nil {
		return nil, err
	}
	e := &Hub{reconnected: make(chan struct{}), stop: make(chan struct{}), closed: make(chan struct{}),
		waiting: map[uint64]*sent{}, answered: make(chan struct{}, 1)}
	nc, err := nats.Connect(h.GetUrl(), append(secure,
		nats.ClosedHandler(func(*nats.Conn) { e.closeOnce.Do(func() { close(e.closed) }) }),
		nats.ReconnectHandler(func(*nats.Conn) {
			e.rmu.Lock()
			e.gen++
			close(e.reconnected)
			e.reconnected = make(chan struct{})
			e.rmu.Unlock()
		}),
		nats.Name(name),
		nats.Token(h.GetToken()),
		nats.CustomInboxPrefix(h.GetInboxPrefix()),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectBufSize(64<<20),
		nats.RetryOnFailedConnect(false),
	)...)
	if err != nil {
		return nil, connectError(h.GetUrl(), secure != nil, err)
	}
	// The hub's answers come on one subscription, matched to their
	// batches here: a batch sent again whatever became of its earlier
	// sends holds nothing for them (nor does an answer that never comes).
	e.replyPre = nc.NewInbox() + "."
	if e.replies, err = nc.Subscribe(e.replyPre+"*", e.onReply); err == nil {
		err = nc.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("subscribe to the hub's answers: %w", err)
	}
	e.seqStamp = seqStamp{pid: os.Getpid(), src: src}
	e.nc = nc
	e.subject = h.GetEventsSubject()
	e.idPre = h.GetMsgIdPrefix() + cmp.Or(src, "main") + "."
	go e.linger()
	return e, nil
}

// linger sends a batch that has waited batchLinger.
func (h *Hub) linger() {
	t := time.NewTicker(batchLinger)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.mu.Lock()
			h.sendBatch()
			h.mu.Unlock()
		}
	}
}

// Emit numbers ev and sends it, in a batch.
func (h *Hub) Emit(ev report.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stamp(&ev)
	if h.failed != nil {
		h.dropped++
		return
	}
	data, err := eventwire.ToWire(ev).MarshalVT()
	if err != nil {
		panic(fmt.Sprintf("taskhost sdk: event does not encode: %v", err)) // our own message
	}
	if len(data) > maxEventBytes {
		ev.Data, _ = json.Marshal(map[string]string{"error": fmt.Sprintf("step data of %d bytes dropped: over the limit of %d", len(data), maxEventBytes)})
		data, _ = eventwire.ToWire(ev).MarshalVT()
	}
	if len(h.batch) > 0 && len(h.batch)+len(data) > maxBatchBytes {
		h.sendBatch()
	}
	if len(h.batch) == 0 {
		h.first = ev.Seq
	}
	// The batch is an EventBatch, built field by field: each event is
	// field 1, length-delimited.
	h.batch = protowire.AppendTag(h.batch, 1, protowire.BytesType)
	h.batch = protowire.AppendBytes(h.batch, data)
	// Send at once when nothing is in flight (a lone event is not held
	// back); while a batch is in flight, fill the next one.
	if h.seq-h.first+1 >= maxBatch || !h.inFlight() {
		h.sendBatch()
	}
}

// inFlight reports whether the last batch sent still waits for its
// answer; mu is held.
func (h *Hub) inFlight() bool {
	if len(h.unacked) == 0 {
		return false
	}
	last := h.unacked[len(h.unacked)-1]
	if last.sendErr != nil {
		return false
	}
	h.amu.Lock()
	defer h.amu.Unlock()
	return !last.acked && last.answer == nil
}

// onReply takes the hub's answer to a batch.
func (h *Hub) onReply(m *nats.Msg) {
	first, err := strconv.ParseUint(strings.TrimPrefix(m.Subject, h.replyPre), 10, 64)
	if err != nil {
		return
	}
	err = pubAckError(m)
	h.amu.Lock()
	if s := h.waiting[first]; s != nil {
		if err == nil {
			s.acked = true
			delete(h.waiting, first)
		} else {
			s.answer = err
		}
	}
	h.amu.Unlock()
	select {
	case h.answered <- struct{}{}:
	default:
	}
}

// pubAckError reads JetStream's answer to a message: nil when the stream
// stored it (or had already), else why not.
func pubAckError(m *nats.Msg) error {
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		// No stream took the message (none has a leader).
		return jetstream.ErrNoStreamResponse
	}
	var ack struct {
		Stream string              `json:"stream"`
		Error  *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &ack); err != nil {
		return jetstream.ErrInvalidJSAck
	}
	if ack.Error != nil {
		return ack.Error
	}
	if ack.Stream == "" {
		return jetstream.ErrInvalidJSAck
	}
	return nil
}

// sendBatch sends the batch being filled, if any; mu is held.
func (h *Hub) sendBatch() {
	if len(h.batch) == 0 || h.failed != nil {
		return
	}
	if len(h.unacked) >= maxUnacked {
		if err := h.settle(context.Background(), len(h.unacked)/2); err != nil {
			h.failed = err
			h.dropped += int(h.seq - h.first + 1)
			h.batch = nil
			return
		}
	}
	s := &sent{first: h.first, last: h.seq, data: h.batch,
		id: h.idPre + strconv.FormatUint(h.first, 10) + "-" + strconv.FormatUint(h.seq, 10)}
	h.batch = nil
	h.amu.Lock()
	h.waiting[s.first] = s
	h.amu.Unlock()
	h.send(s, time.Now())
	if r, ok := refusal(h.nc, s.sendErr).(*refusedError); ok {
		h.refuse(r)
		h.dropped += int(s.last - s.first + 1)
		return
	}
	h.unacked = append(h.unacked, s)
}

// connGen returns the connection's generation and a channel closed when
// it next reconnects.
func (h *Hub) connGen() (uint64, <-chan struct{}) {
	h.rmu.Lock()
	defer h.rmu.Unlock()
	return h.gen, h.reconnected
}

// send sends s (again), its answer to come on its own reply subject;
// mu is held.
func (h *Hub) send(s *sent, now time.Time) {
	s.gen, _ = h.connGen()
	s.sendErr = h.nc.PublishMsg(&nats.Msg{Subject: h.subject, Reply: h.replyPre + strconv.FormatUint(s.first, 10),
		Data: s.data, Header: nats.Header{jetstream.MsgIDHeader: []string{s.id}}})
	if s.sendErr != nil {
		s.due = now.Add(retryAfter)
	} else {
		s.due = now.Add(resendAfter)
	}
}

// settle waits until the oldest n unacknowledged batches are
// acknowledged, and drops them from the list. Meanwhile, any batch not
// acknowledged (of all those sent) is sent again when its send failed or
// the hub's answer was an error that is not final, when it was sent on a
// connection that has since dropped (its answer may be lost with it), or
// when no answer came for resendAfter (the message or its answer was
// lost: the stream changed leaders); the hub keeps one copy. It gives up
// when ctx ends, when none of them is acknowledged for ackWait, or at
// once when the hub refuses one for good (refusal).
func (h *Hub) settle(ctx context.Context, n int) error {
	stall := time.NewTimer(ackWait)
	defer stall.Stop()
	wake := time.NewTimer(resendAfter)
	defer wake.Stop()
	done := 0 // of the oldest n, those acknowledged
	gaveUp := func(why error) error {
		h.unacked = h.unacked[done:]
		err := fmt.Errorf("events from %d on not acknowledged by the hub: %w", h.unacked[0].first, why)
		if h.lastErr != nil {
			err = fmt.Errorf("%w (its last answer: %v)", err, h.lastErr)
		}
		return err
	}
	for {
		gen, reconnected := h.connGen()
		now := time.Now()
		h.amu.Lock()
		moved := false
		for done < n && h.unacked[done].acked {
			h.stored = h.unacked[done].last
			done++
			moved = true
		}
		for _, s := range h.unacked[done:] {
			if s.answer != nil {
				h.lastErr, s.sendErr, s.answer = s.answer, s.answer, nil
				s.due = now.Add(retryAfter)
				if errors.Is(s.sendErr, jetstream.ErrNoStreamResponse) {
					s.due = now.Add(noStreamRetry)
				}
			}
		}
		h.amu.Unlock()
		if done == n {
			break
		}
		if moved {
			stall.Reset(ackWait)
		}
		next := now.Add(resendAfter)
		for _, s := range h.unacked[done:] {
			if r, ok := refusal(h.nc, s.sendErr).(*refusedError); ok {
				h.unacked = h.unacked[done:]
				return h.refuse(r)
			}
			h.amu.Lock()
			acked := s.acked
			h.amu.Unlock()
			if acked {
				continue
			}
			if s.gen != gen || !now.Before(s.due) {
				h.send(s, now)
				if r, ok := refusal(h.nc, s.sendErr).(*refusedError); ok {
					h.unacked = h.unacked[done:]
					return h.refuse(r)
				}
			}
			if s.due.Before(next) {
				next = s.due
			}
		}
		wake.Reset(max(next.Sub(now), time.Millisecond))
		select {
		case <-h.answered:
		case <-wake.C:
		case <-reconnected:
			// sent again above
		case <-h.closed:
			// The connection gave up: its credentials are refused.
			h.unacked[done].sendErr = nats.ErrConnectionClosed
		case <-stall.C:
			return gaveUp(fmt.Errorf("none acknowledged for %s", ackWait))
		case <-ctx.Done():
			return gaveUp(ctx.Err())
		}
	}
	h.unacked = append(h.unacked[:0], h.unacked[n:]...)
	return nil
}

// Flush sends what is left and waits for every event to be acknowledged.
// It returns the last event's number, or, when not every event was
// acknowledged, the last of those acknowledged in order and why.
func (h *Hub) Flush(ctx context.Context) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sendBatch()
	if h.failed == nil {
		if err := h.settle(ctx, len(h.unacked)); err != nil && !Refused(err) {
			return h.stored, err
		}
	}
	switch {
	case Refused(h.failed):
		return h.stored, fmt.Errorf("%w; events from %d on were not stored", h.failed, h.stored+1)
	case h.failed != nil:
		return h.stored, fmt.Errorf("%w; %d later events were not sent", h.failed, h.dropped)
	}
	h.stored = h.seq
	return h.seq, nil
}

// Close stops sending and closes the connection.
func (h *Hub) Close() {
	close(h.stop)
	h.nc.Close()
}
