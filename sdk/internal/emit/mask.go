package emit

import (
	"github.com/taskhost/taskhost/internal/mask"
	"github.com/taskhost/taskhost/internal/report"
)

// maskingEmitter hides the values the host marked sensitive (the task's
// own args that come from sensitive variables) in each event before it
// is sent, so that the run's stream in the run directory holds only the
// masked text. The host masks what it takes in as well, for packs that
// predate this.
type maskingEmitter struct {
	Emitter
	m *mask.Masker
}

// WithMask wraps em to mask m's values; em itself when m is empty.
func WithMask(em Emitter, m *mask.Masker) Emitter {
	if m.Empty() {
		return em
	}
	return maskingEmitter{em, m}
}

func (e maskingEmitter) Emit(ev report.Event) {
	ev.Name = e.m.String(ev.Name)
	ev.Reason = e.m.String(ev.Reason)
	ev.Data = e.m.JSON(ev.Data)
	e.Emitter.Emit(ev)
}
