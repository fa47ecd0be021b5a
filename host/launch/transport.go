package launch

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/taskhost/taskhost/internal/protocol"
)

// handshakeReader passes a pack's stdout to go-plugin, and takes the
// handshake line's certificate out of it: a pack that sends one (go-plugin's
// AutoMTLS, or a pack that serves over TLS of its own accord) takes only
// TLS connections, which this host does not make. go-plugin, not asked for
// TLS, would crash on the certificate (it has no TLS configuration to put
// it in); instead the host records what the pack serves and reports it,
// with the versions of both sides (tlsVersion).
type handshakeReader struct {
	r  *bufio.Reader
	rc io.Closer

	mu      sync.Mutex
	seen    bool
	pending string
	tls     string // the pack's protocol version, when it serves over TLS
}

func newHandshakeReader(rc io.ReadCloser) *handshakeReader {
	return &handshakeReader{r: bufio.NewReader(rc), rc: rc}
}

func (h *handshakeReader) Read(p []byte) (int, error) {
	h.mu.Lock()
	if !h.seen {
		h.seen = true
		line, err := h.r.ReadString('\n')
		h.pending = h.filter(line)
		if h.pending == "" && err != nil {
			h.mu.Unlock()
			return 0, err
		}
	}
	if h.pending != "" {
		n := copy(p, h.pending)
		h.pending = h.pending[n:]
		h.mu.Unlock()
		return n, nil
	}
	h.mu.Unlock()
	return h.r.Read(p)
}

func (h *handshakeReader) Close() error { return h.rc.Close() }

// filter takes the certificate out of a handshake line
// (CORE|VERSION|NETWORK|ADDRESS|PROTOCOL|CERTIFICATE|…), as go-plugin
// reads it: a field of more than 50 characters.
func (h *handshakeReader) filter(line string) string {
	parts := strings.Split(strings.TrimRight(line, "\r\n"), "|")
	if len(parts) < 6 || len(parts[5]) <= 50 {
		return line
	}
	h.tls = parts[1]
	parts[5] = ""
	return strings.Join(parts, "|") + "\n"
}

// tlsVersion is the protocol version of a pack that serves over TLS, or
// "" for one that does not (or has not said yet).
func (h *handshakeReader) tlsVersion() string {
	if h == nil {
		return ""
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tls
}

// errOverTLS says that the pack speaks the protocol over TLS, which this
// host does not.
func errOverTLS(path, version string) error {
	return fmt.Errorf("%w: %s: the pack serves pack protocol %s over TLS (it sent a certificate on its handshake line); this taskhost speaks pack protocol %v without TLS, on a Unix socket in a private directory: rebuild the pack with this taskhost's SDK, or use a taskhost that speaks the pack's transport",
		ErrNotAPack, path, version, protocol.Versions)
}

// servesTLS says whether the pack answers a TLS handshake on its socket:
// asked after a call failed as unavailable, it tells a pack that takes
// only TLS from one that failed otherwise. A server that speaks plain
// gRPC answers a ClientHello with an HTTP/2 frame, not a TLS record.
func (p *Process) servesTLS() bool {
	rc := p.client.ReattachConfig()
	if rc == nil || rc.Addr == nil {
		return false
	}
	conn, err := net.DialTimeout(rc.Addr.Network(), rc.Addr.String(), 2*time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	// Only whether a TLS server answers matters, not who it is.
	err = tls.Client(conn, &tls.Config{InsecureSkipVerify: true}).Handshake() //nolint:gosec
	var rh tls.RecordHeaderError
	return err == nil || !errors.As(err, &rh) && !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded)
}

// errNotPlain says that the pack, having agreed on a version, does not
// speak it without TLS.
func errNotPlain(path string, version int) error {
	return fmt.Errorf("%w: %s: the pack does not answer pack protocol %d without TLS: it serves it over TLS; this taskhost speaks pack protocol %v without TLS, on a Unix socket in a private directory: rebuild the pack with this taskhost's SDK, or use a taskhost that speaks the pack's transport",
		ErrNotAPack, path, version, protocol.Versions)
}
