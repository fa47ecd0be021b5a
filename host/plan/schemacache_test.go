package plan

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestWriteAtomicConcurrent: writers racing on one entry never leave, nor
// let a reader see, anything but a whole entry, and leave no temporary
// files behind.
func TestWriteAtomicConcurrent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	entry := filepath.Join(dir, "pack-v1-x-p.pb")
	want := bytes.Repeat([]byte("0123456789abcdef"), 64*1024) // 1 MiB
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var bad []string
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if b, err := os.ReadFile(entry); err == nil && !bytes.Equal(b, want) {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("read %d bytes", len(b)))
				mu.Unlock()
			}
		}
	}()
	var writers sync.WaitGroup
	for range 8 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for range 5 {
				if err := writeAtomic(dir, entry, want); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("a reader saw a partial entry: %v", bad[:min(len(bad), 3)])
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 1 {
		t.Errorf("directory holds %d files, want the entry only", len(files))
	}
}

func TestCacheEntryName(t *testing.T) {
	t.Parallel()
	a := cacheEntryName("/x/testpack", "abc")
	b := cacheEntryName("/y/chatty", "abc")
	if a == b {
		t.Errorf("two names of one binary share the entry %s", a)
	}
	if got := cacheEntryName("/x/p ack$", "abc"); got != "pack-v1-abc-p_ack_.pb" {
		t.Errorf("got %s", got)
	}
}
