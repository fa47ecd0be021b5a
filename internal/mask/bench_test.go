package mask

import (
	"os"
	"testing"
)

// BenchmarkStep is what masking costs a step's events when the run has
// sensitive values: its name and reason as text, its data as JSON, none
// of them holding a value (the usual case).
func BenchmarkStep(b *testing.B) {
	m := New("hunter2-secret", "Bearer tok3n-9f8e7d")
	data := []byte(`{"status":0,"elapsed_ms":12,"device":"r1.lab","ports":[22,830]}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = m.String("check interface Gi0/1 on r1.lab")
		_ = m.String("Gi0/2 is down (expected up)")
		_ = m.JSON(data)
	}
}

// BenchmarkFileClean is what the end of a task costs for a log file that
// holds no value: one read of it (8 MiB here).
func BenchmarkFileClean(b *testing.B) {
	m := New("hunter2-secret", "Bearer tok3n-9f8e7d")
	line := "2026-11-27T02:36:45.048Z [INFO]  p: pinging r1 from the lab's jump host: step=1\n"
	var src []byte
	for len(src) < 8<<20 {
		src = append(src, line...)
	}
	path := b.TempDir() + "/task.log"
	if err := os.WriteFile(path, src, 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if edits, err := m.File(path); err != nil || edits != nil {
			b.Fatal(edits, err)
		}
	}
}
