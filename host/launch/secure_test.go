package launch_test

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/internal/testbuild"
)

// demo is a pack built with this SDK; v1pack one that speaks only pack
// protocol 1, as a pack built with an older SDK does; otherproto one
// that speaks only a version no host speaks.
var demo, v1pack, otherproto, tlsproto string

func TestMain(m *testing.M) {
	testbuild.Main(m, map[*string]string{
		&demo:       "../../plugins/demo",
		&v1pack:     "../../sdk/internal/packserver/testdata/v1pack",
		&otherproto: "../../internal/testpack/otherproto",
		&tlsproto:   "../../internal/testpack/tlsproto",
	}, nil)
}

// TestPinnedStart: a pinned pack starts only when its binary has the
// pinned SHA-256 (Start checks it at each start).
func TestPinnedStart(t *testing.T) {
	t.Parallel()
	sum, err := launch.FileSHA256(demo)
	if err != nil {
		t.Fatal(err)
	}
	p, err := launch.Start(context.Background(), launch.Config{Path: demo, SHA256: sum})
	if err != nil {
		t.Fatalf("start with the right SHA-256: %v", err)
	}
	d, err := p.Describe(context.Background())
	p.Stop()
	if err != nil || d.Name != "demo" {
		t.Fatalf("describe: %v %v", d, err)
	}

	wrong := make([]byte, len(sum))
	copy(wrong, sum)
	wrong[0] ^= 1
	p, err = launch.Start(context.Background(), launch.Config{Path: demo, SHA256: wrong})
	if err == nil {
		p.Kill()
		t.Fatal("a pack with another SHA-256 started")
	}
	if !errors.Is(err, launch.ErrChecksumMismatch) {
		t.Errorf("error %v is not ErrChecksumMismatch", err)
	}
	for _, w := range []string{hex.EncodeToString(sum), hex.EncodeToString(wrong), demo} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q: %v", w, err)
		}
	}
}
