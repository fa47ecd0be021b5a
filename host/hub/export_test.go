package hub

import "slices"

// StopReading stops the hub's reading of the run's stream as a consumer
// that stalls does: nothing more is delivered, and nothing says so.
func StopReading(h *Hub) {
	h.ccMu.Lock()
	defer h.ccMu.Unlock()
	h.cc.Stop()
}

// ReadFrom reads the run's stream again from seq on, with a new consumer.
func ReadFrom(h *Hub, seq uint64) error { return h.readFrom(seq) }

// KeepNotes has the hub keep the runner's notes it reads from now on
// (the live hub keeps none), for NotesRead.
func KeepNotes(h *Hub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ledger.keepNotes = true
}

// NotesRead is the runner's notes the hub has kept, in order.
func NotesRead(h *Hub) []Note {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ledger.notes)
}
