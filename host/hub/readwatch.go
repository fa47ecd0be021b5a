package hub

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// On a cluster, the host's reading of the run's stream (an ordered
// consumer) can stop after the node that led the stream went down: the
// stream has a new leader and stores every event, but the consumer
// delivers nothing more and says nothing (no error, not even a missed
// heartbeat). The hub watches its reading: when it has read nothing for
// readStall while the stream holds more than it read, it reads again with
// a new consumer, from the message after the last it read (read skips
// what it already read, so nothing is taken twice).
const (
	readStall = 2 * time.Second
	readCheck = 500 * time.Millisecond
)

// watchReading watches the reading of the stream until the hub closes.
func (h *Hub) watchReading() {
	defer h.watch.Done()
	t := time.NewTicker(readCheck)
	defer t.Stop()
	h.mu.Lock()
	last, moved := h.processed, time.Now()
	h.mu.Unlock()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		h.mu.Lock()
		read := h.processed
		h.mu.Unlock()
		if read != last {
			last, moved = read, time.Now()
			continue
		}
		if time.Since(moved) < readStall {
			continue
		}
		moved = time.Now() // next look in readStall, whatever this one finds
		stored, err := h.storedSeq()
		if err != nil {
			h.log.Debug("reading the run's stream: its last sequence", "error", err)
			continue
		}
		if stored <= read {
			continue // nothing more to read
		}
		h.log.Warn("the reading of the run's stream stalled: reading again", "read", read, "stored", stored)
		if err := h.readFrom(read + 1); err != nil {
			h.log.Warn("the reading of the run's stream stalled: could not read again (tried again soon)", "error", err)
		}
	}
}

// storedSeq is the sequence of the last message the stream stored.
func (h *Hub) storedSeq() (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*clusterAPIWait)
	defer cancel()
	var info *jetstream.StreamInfo
	err := apiRetry(ctx, clusterAPIWait, func(ctx context.Context) (err error) {
		info, err = h.stream.Info(ctx)
		return err
	})
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}

// readFrom stops the reading of the stream and reads it again from seq
// on, with a new consumer.
func (h *Hub) readFrom(seq uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*clusterAPIWait)
	defer cancel()
	cons, err := h.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: seq})
	if err != nil {
		return err
	}
	h.ccMu.Lock()
	defer h.ccMu.Unlock()
	if h.cc != nil {
		h.cc.Stop()
	}
	h.cc, err = cons.Consume(h.read, h.consumeOpts()...)
	return err
}
