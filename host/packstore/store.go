package packstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/host/agentwire"
)

// Bucket is the name of the object store that holds pack binaries, each
// under its SHA-256 in lower-case hex.
const Bucket = agentwire.PacksBucket

// ErrHashMismatch is wrapped when bytes that should have a SHA-256 do
// not: a fetched object, a cached binary, or a file that changed between
// its hashing and its put.
var ErrHashMismatch = errors.New("pack binary does not have the SHA-256 it is named by")

var hexRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// parseHex returns the SHA-256 that hexsum names, or why it names none.
func parseHex(hexsum string) ([]byte, error) {
	if !hexRE.MatchString(hexsum) {
		return nil, fmt.Errorf("packstore: %q is not a SHA-256 in lower-case hex", hexsum)
	}
	sum, _ := hex.DecodeString(hexsum)
	return sum, nil
}

// Stream is the name of the object store's stream.
const Stream = agentwire.PacksStream

// Store is the packs' object store on a hub.
type Store struct {
	obs    jetstream.ObjectStore
	stream jetstream.Stream
}

func open(ctx context.Context, js jetstream.JetStream, obs jetstream.ObjectStore) (*Store, error) {
	stream, err := js.Stream(ctx, Stream)
	if err != nil {
		return nil, fmt.Errorf("packstore: open the object store %s: %w", Bucket, err)
	}
	return &Store{obs: obs, stream: stream}, nil
}

// Create opens the packs' object store on nc's hub, and makes it if it
// is not there, with replicas copies (0 is 1): the host's side.
func Create(ctx context.Context, nc *nats.Conn, replicas int) (*Store, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("packstore: %w", err)
	}
	obs, err := js.ObjectStore(ctx, Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obs, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: Bucket,
			Description: "taskhost pack binaries by SHA-256", Storage: jetstream.FileStorage, Replicas: replicas})
		if errors.Is(err, jetstream.ErrBucketExists) { // made at the same time by another host
			obs, err = js.ObjectStore(ctx, Bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("packstore: open the object store %s: %w", Bucket, err)
	}
	return open(ctx, js, obs)
}

// Open opens the packs' object store on nc's hub, which must be there:
// the agent's side. It reads the store with no more than the stream's
// info and direct gets (see Get), which is all an agent may do there.
func Open(ctx context.Context, nc *nats.Conn) (*Store, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("packstore: %w", err)
	}
	obs, err := js.ObjectStore(ctx, Bucket)
	if err != nil {
		return nil, fmt.Errorf("packstore: open the object store %s: %w", Bucket, err)
	}
	return open(ctx, js, obs)
}

// Put puts the binary at path under hexsum, its SHA-256, unless an
// object of that name and digest is there already; uploaded says whether
// it put it. The digest of what it uploaded is checked against hexsum: if
// the file changed since it was hashed, the object is deleted and Put
// fails with ErrHashMismatch.
func (s *Store) Put(ctx context.Context, hexsum, path string) (uploaded bool, err error) {
	sum, err := parseHex(hexsum)
	if err != nil {
		return false, err
	}
	info, err := s.obs.GetInfo(ctx, hexsum)
	switch {
	case err == nil && bytes.Equal(digestOf(info), sum):
		return false, nil
	case err != nil && !errors.Is(err, jetstream.ErrObjectNotFound):
		return false, fmt.Errorf("packstore: look up %s: %w", hexsum, err)
	}
	// Missing, or there with other bytes (which no fetch accepts): put.
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("packstore: %w", err)
	}
	defer f.Close()
	for try := 1; ; try++ {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return false, fmt.Errorf("packstore: %w", err)
		}
		info, err = s.put(ctx, hexsum, f)
		var apiErr *jetstream.APIError
		if err == nil || !errors.As(err, &apiErr) || apiErr.ErrorCode != errCodeTooManyRequests || try == putTries {
			break
		}
		select { // the stream's ingest queue was full: put again
		case <-ctx.Done():
			return false, fmt.Errorf("packstore: put %s as %s: %w", path, hexsum, err)
		case <-time.After(time.Duration(try) * 250 * time.Millisecond):
		}
	}
	if err != nil {
		return false, fmt.Errorf("packstore: put %s as %s: %w", path, hexsum, err)
	}
	if got := digestOf(info); !bytes.Equal(got, sum) {
		_ = s.obs.Delete(ctx, hexsum)
		return false, fmt.Errorf("%w: %s changed since it was hashed (want %s, got %x); not kept", ErrHashMismatch, path, hexsum, got)
	}
	return true, nil
}

// ReadSubjects are the subjects on which Open and a Cache's fetches ask
// the hub; see agentwire.PackReadSubjects.
func ReadSubjects() []string { return agentwire.PackReadSubjects() }

// get writes the object hexsum to w. It reads the object's description
// and then its chunks one by one, each a direct get of the next message
// on the object's chunk subject, rather than through a consumer (as the
// object store's own Get does): so a reader needs no right to make
// consumers, whose delivery subject it would choose.
func (s *Store) get(ctx context.Context, hexsum string, w io.Writer) error {
	info, err := s.obs.GetInfo(ctx, hexsum)
	if err != nil {
		return err
	}
	if info.Opts != nil && info.Opts.Link != nil {
		return fmt.Errorf("%s is a link, not a pack binary", hexsum)
	}
	subject := "$O." + Bucket + ".C." + info.NUID
	var size uint64
	seq := uint64(1)
	for n := uint32(0); n < info.Chunks; n++ {
		m, err := s.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if err != nil {
			return fmt.Errorf("chunk %d of %d: %w", n+1, info.Chunks, err)
		}
		if _, err := w.Write(m.Data); err != nil {
			return err
		}
		size += uint64(len(m.Data))
		seq = m.Sequence + 1
	}
	if size != info.Size {
		return fmt.Errorf("%d bytes in %d chunks, and the object has %d", size, info.Chunks, info.Size)
	}
	return nil
}

// The object store sends an object's chunks without waiting for each to
// be stored, while the hub bounds what a stream holds before it stores
// it (4 MiB, hub.go's ingestBytes) and refuses what comes past that with
// 429 Too Many Requests, which fails the put: a pack binary is larger. So
// put paces what it reads from the file by what the bucket's stream has
// stored, keeping at most putWindow bytes ahead of it, and Put tries a
// put refused with 429 again, putTries times in all.
const (
	putWindow              = 1 << 20
	putTries               = 3
	errCodeTooManyRequests = jetstream.ErrorCode(10167)
)

func (s *Store) put(ctx context.Context, hexsum string, f io.Reader) (*jetstream.ObjectInfo, error) {
	st, err := s.obs.Status(ctx)
	if err != nil {
		return nil, err
	}
	r := &pacedReader{ctx: ctx, r: f, obs: s.obs, base: st.Size()}
	return s.obs.Put(ctx, jetstream.ObjectMeta{Name: hexsum}, r)
}

// pacedReader reads from r no more than putWindow bytes ahead of what the
// object store's stream has stored since it held base bytes.
type pacedReader struct {
	ctx    context.Context
	r      io.Reader
	obs    jetstream.ObjectStore
	base   uint64
	read   uint64 // bytes read
	stored uint64 // bytes the stream stored since base, as last seen
}

func (p *pacedReader) Read(b []byte) (int, error) {
	for p.read > p.stored+putWindow {
		st, err := p.obs.Status(p.ctx)
		if err != nil {
			return 0, err
		}
		if size := st.Size(); size > p.base {
			p.stored = size - p.base
		}
		if p.read > p.stored+putWindow {
			select {
			case <-p.ctx.Done():
				return 0, p.ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	n, err := p.r.Read(b)
	p.read += uint64(n)
	return n, err
}

// digestOf is the SHA-256 that an object's putter computed of its bytes
// (nil if it cannot be read): it tells the host whether a put is needed,
// and proves nothing to an agent, which hashes what it fetched itself.
func digestOf(info *jetstream.ObjectInfo) []byte {
	d, err := jetstream.DecodeObjectDigest(info.Digest)
	if err != nil {
		return nil
	}
	return d
}
