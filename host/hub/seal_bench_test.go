package hub

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/taskhost/taskhost/sdk/result"
)

// BenchmarkSlot: what the hub adds to each task attempt for its record:
// the slot's note, then at the end the token's revocation and the seal,
// stored and read back.
func BenchmarkSlot(b *testing.B) {
	h, err := Start(Config{StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		h.AddTask(fmt.Sprint("t", i), i, "tasks/t")
		if err := h.Seal(ctx, i, Close{Result: result.Errored, Reason: "step never ended", At: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
}
