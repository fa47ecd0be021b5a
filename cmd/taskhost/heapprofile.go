package main

import (
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"time"
)

// testHeapProfileEnv names an environment variable for the benchmarks and
// for finding where the host's memory goes: when set to a path, the host
// writes a heap profile there each time its live heap (as of the last
// garbage collection) has grown by a tenth over the largest seen, so that
// the file ends up holding the heap at about its peak; and every ten
// seconds it writes the heap as it is to the path with ".now" added. Not
// for users: it costs a profile write now and then.
const testHeapProfileEnv = "TASKHOST_TEST_HEAPPROFILE"

func startHeapProfile(path string) {
	if path == "" {
		return
	}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	go func() {
		var peak uint64
		for i := 1; ; i++ {
			time.Sleep(100 * time.Millisecond)
			if i%100 == 0 {
				writeHeapProfile(path + ".now")
			}
			metrics.Read(s)
			if live := s[0].Value.Uint64(); live >= peak+peak/10 {
				peak = live
				writeHeapProfile(path)
			}
		}
	}()
}

// writeHeapProfile writes the heap profile to path, whole or not at all.
func writeHeapProfile(path string) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return
	}
	err = pprof.Lookup("heap").WriteTo(f, 0)
	if f.Close() == nil && err == nil {
		_ = os.Rename(tmp, path)
	}
}
