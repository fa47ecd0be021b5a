package packserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"os/user"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/protocol/wire"
)

// The server side of go-plugin, as a pack needs it, without go-plugin:
// go-plugin's server brings net/rpc, encoding/gob, yamux, gRPC reflection
// and protobuf's descriptor packages into every pack, whose package
// initialisation a pack process paid at every start (docs/performance.md).
// What a host's go-plugin client sees is what go-plugin's server did:
//
//   - the version: the highest of PLUGIN_PROTOCOL_VERSIONS the pack
//     serves, else the lowest it serves;
//   - a Unix socket made as os.CreateTemp names it, in
//     PLUGIN_UNIX_SOCKET_DIR, its group PLUGIN_UNIX_SOCKET_GROUP if set
//     (mode 0660), removed when the server stops;
//   - TLS with a certificate of the pack's own when the host sends its own
//     in PLUGIN_CLIENT_CERT (go-plugin's AutoMTLS);
//   - the handshake line CORE|VERSION|unix|SOCKET|grpc|CERT on stdout,
//     with a seventh field when the host set PLUGIN_MULTIPLEX_GRPC;
//   - gRPC services: the pack's, plugin.GRPCController (Shutdown stops
//     the server), plugin.GRPCStdio (what the process writes to os.Stdout
//     and os.Stderr from then on, streamed to the host), plugin.GRPCBroker
//     (a stream that carries nothing: a pack brokers no connections) and
//     grpc.health.v1.Health (the service "plugin" is serving);
//   - SIGINT is ignored.
//
// Not served: gRPC reflection, which no host calls, and the broker's
// multiplexing on one connection (PLUGIN_MULTIPLEX_GRPC=true, which a
// taskhost host never asks for): the handshake line then says it is not
// supported, and such a host refuses the pack.

const (
	envProtocolVersions = "PLUGIN_PROTOCOL_VERSIONS"
	envSocketGroup      = "PLUGIN_UNIX_SOCKET_GROUP"
	envClientCert       = "PLUGIN_CLIENT_CERT"
	envMultiplexGRPC    = "PLUGIN_MULTIPLEX_GRPC"
	healthService       = "plugin" // go-plugin's GRPCServiceName
)

// negotiate returns the version to serve: the highest of ours the host
// offered (env PLUGIN_PROTOCOL_VERSIONS), else the lowest of ours, which
// the host then refuses with both sides' versions.
func negotiate(offered string, ours []int, stderr io.Writer) int {
	var theirs []int
	if offered != "" {
		for _, s := range strings.Split(offered, ",") {
			v, err := strconv.Atoi(s)
			if err != nil {
				fmt.Fprintf(stderr, "server sent invalid plugin version %q", s)
				continue
			}
			theirs = append(theirs, v)
		}
	}
	vs := append([]int(nil), ours...)
	sort.Sort(sort.Reverse(sort.IntSlice(vs)))
	for _, v := range vs {
		for _, t := range theirs {
			if t == v {
				return v
			}
		}
	}
	return vs[len(vs)-1]
}

// listen makes the pack's socket in dir.
func listen(dir, group string) (net.Listener, error) {
	tf, err := os.CreateTemp(dir, "plugin")
	if err != nil {
		return nil, err
	}
	path := tf.Name()
	if err := tf.Close(); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if group != "" {
		if err := groupWritable(path, group); err != nil {
			l.Close()
			return nil, err
		}
	}
	return &rmListener{Listener: l, path: path}, nil
}

// groupWritable gives the socket at path to group (a name or a number),
// mode 0660.
func groupWritable(path, group string) error {
	gid, err := strconv.Atoi(group)
	if err != nil {
		g, err := user.LookupGroup(group)
		if err != nil {
			return fmt.Errorf("failed to find gid from %q: %w", group, err)
		}
		if gid, err = strconv.Atoi(g.Gid); err != nil {
			return err
		}
	}
	if err := os.Chown(path, -1, gid); err != nil {
		return err
	}
	return os.Chmod(path, 0o660)
}

// rmListener removes its socket when closed.
type rmListener struct {
	net.Listener
	path string
}

func (l *rmListener) Close() error {
	err := l.Listener.Close()
	if rerr := os.Remove(l.path); err == nil && !os.IsNotExist(rerr) {
		err = rerr
	}
	return err
}

// autoTLS is the server's TLS for a host that sent its certificate
// (go-plugin's AutoMTLS), and the certificate to put on the handshake
// line.
func autoTLS(clientCert string, logger hclog.Logger) (*tls.Config, string, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(clientCert)) {
		logger.Error("client cert provided but failed to parse", "cert", clientCert)
	}
	certPEM, keyPEM, err := generateCert()
	if err != nil {
		return nil, "", err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, "", err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
		RootCAs:      pool,
		ServerName:   "localhost",
	}, base64.RawStdEncoding.EncodeToString(cert.Certificate[0]), nil
}

// servePlugin serves sv to the host that started this process, writing
// the handshake line to handshake, and returns when the host shut the
// server down (or it failed).
func servePlugin(sv packv1.PackServer, handshake io.Writer, logger hclog.Logger) {
	version := negotiate(os.Getenv(envProtocolVersions), wire.ServedVersions(os.Getenv), os.Stderr)
	lis, err := listen(os.Getenv(socketDirEnv), os.Getenv(envSocketGroup))
	if err != nil {
		logger.Error("plugin init error", "error", err)
		return
	}
	defer lis.Close()

	var opts []grpc.ServerOption
	var serverCert string
	if cc := os.Getenv(envClientCert); cc != "" {
		cfg, cert, err := autoTLS(cc, logger)
		if err != nil {
			logger.Error("failed to generate server certificate", "error", err)
			panic(err)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg)))
		serverCert = cert
	}

	// What the process writes to os.Stdout and os.Stderr once it serves
	// goes to the host over the stdio stream.
	outR, outW, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error preparing plugin: %s\n", err)
		os.Exit(1)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error preparing plugin: %s\n", err)
		os.Exit(1)
	}

	gs := grpc.NewServer(opts...)
	packv1.RegisterPackServer(gs, sv)
	gs.RegisterService(&controllerDesc, gs)
	gs.RegisterService(&stdioDesc, newStdio(outR, errR, logger))
	gs.RegisterService(&brokerDesc, struct{}{})
	gs.RegisterService(&healthDesc, struct{}{})

	line := fmt.Sprintf("%d|%d|%s|%s|grpc|%s", wire.CoreVersion, version, lis.Addr().Network(), lis.Addr().String(), serverCert)
	if os.Getenv(envMultiplexGRPC) != "" {
		// go-plugin's server says it can multiplex the broker; this one
		// cannot.
		line += "|false"
	}
	fmt.Fprintf(handshake, "%s\n", line)
	if f, ok := handshake.(*os.File); ok {
		_ = f.Sync()
	}

	// Interrupts (the user's ^C reaches the whole process group) are the
	// host's to act on.
	ints := make(chan os.Signal, 1)
	signal.Notify(ints, os.Interrupt)
	go func() {
		for range ints {
		}
	}()

	os.Stdout, os.Stderr = outW, errW
	if err := gs.Serve(lis); err != nil {
		logger.Error("grpc server", "error", err)
	}
}

// rawMsg is a message passed as its protobuf bytes, through the pack
// protocol's codec (it has generated-style marshal code), so that
// go-plugin's services need none of protobuf's reflection.
type rawMsg struct{ b []byte }

func (m *rawMsg) MarshalVT() ([]byte, error) { return m.b, nil }
func (m *rawMsg) UnmarshalVT(b []byte) error {
	m.b = append(m.b[:0], b...)
	return nil
}

var _ wire.VTMessage = (*rawMsg)(nil)

// anyServer is the handler type of the services below: any value.
type anyServer interface{}

// plugin.GRPCController: Shutdown stops the server, as go-plugin's does.
var controllerDesc = grpc.ServiceDesc{
	ServiceName: "plugin.GRPCController",
	HandlerType: (*anyServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Shutdown",
		Handler: func(srv any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(new(rawMsg)); err != nil {
				return nil, err
			}
			srv.(*grpc.Server).Stop()
			return new(rawMsg), nil
		},
	}},
	Metadata: "plugin/grpc_controller.proto",
}

// plugin.GRPCBroker: the host opens its stream when it connects; a pack
// brokers no connections, so nothing is sent, and what comes is read
// until the stream ends.
var brokerDesc = grpc.ServiceDesc{
	ServiceName: "plugin.GRPCBroker",
	HandlerType: (*anyServer)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    "StartStream",
		ServerStreams: true,
		ClientStreams: true,
		Handler: func(_ any, stream grpc.ServerStream) error {
			for {
				if err := stream.RecvMsg(new(rawMsg)); err != nil {
					return nil
				}
			}
		},
	}},
	Metadata: "plugin/grpc_broker.proto",
}

// grpc.health.v1.Health, as grpc's health server answers it with the
// services "" and "plugin" serving.
var healthDesc = grpc.ServiceDesc{
	ServiceName: "grpc.health.v1.Health",
	HandlerType: (*anyServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Check",
		Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(rawMsg)
			if err := dec(in); err != nil {
				return nil, err
			}
			if !knownService(in.b) {
				return nil, status.Error(codes.NotFound, "unknown service")
			}
			return &rawMsg{b: healthStatus(1)}, nil // SERVING
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Watch",
		ServerStreams: true,
		Handler: func(_ any, stream grpc.ServerStream) error {
			in := new(rawMsg)
			if err := stream.RecvMsg(in); err != nil {
				return err
			}
			st := uint64(1) // SERVING
			if !knownService(in.b) {
				st = 3 // SERVICE_UNKNOWN
			}
			if err := stream.SendMsg(&rawMsg{b: healthStatus(st)}); err != nil {
				return err
			}
			<-stream.Context().Done()
			return status.Error(codes.Canceled, "Stream has ended.")
		},
	}},
	Metadata: "grpc/health/v1/health.proto",
}

// knownService says whether a HealthCheckRequest asks of a service this
// server serves: "" (the server) or go-plugin's "plugin".
func knownService(req []byte) bool {
	name := ""
	for len(req) > 0 {
		num, typ, n := protowire.ConsumeTag(req)
		if n < 0 {
			return false
		}
		req = req[n:]
		if num == 1 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(req)
			if m < 0 {
				return false
			}
			name = string(v)
			req = req[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, req)
		if m < 0 {
			return false
		}
		req = req[m:]
	}
	return name == "" || name == healthService
}

// healthStatus is a HealthCheckResponse of status st.
func healthStatus(st uint64) []byte {
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	return protowire.AppendVarint(b, st)
}

// plugin.GRPCStdio: what the process writes to the pipes that are its
// os.Stdout and os.Stderr, streamed to the host in StdioData messages
// (channel 1 stdout, 2 stderr).
var stdioDesc = grpc.ServiceDesc{
	ServiceName: "plugin.GRPCStdio",
	HandlerType: (*anyServer)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    "StreamStdio",
		ServerStreams: true,
		Handler: func(srv any, stream grpc.ServerStream) error {
			if err := stream.RecvMsg(new(rawMsg)); err != nil {
				return err
			}
			return srv.(*stdio).stream(stream)
		},
	}},
	Metadata: "plugin/grpc_stdio.proto",
}

type stdio struct{ out, err chan []byte }

// newStdio copies what comes through the pipes out and errs to channels
// the stream reads; the writers wait for the stream (as go-plugin's do).
func newStdio(out, errs io.Reader, logger hclog.Logger) *stdio {
	s := &stdio{out: make(chan []byte), err: make(chan []byte)}
	go copyChan(s.out, out, logger)
	go copyChan(s.err, errs, logger)
	return s
}

func copyChan(dst chan<- []byte, src io.Reader, logger hclog.Logger) {
	r := bufio.NewReader(src)
	for {
		var data [1024]byte
		n, err := r.Read(data[:])
		if n > 0 {
			dst <- data[:n]
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			logger.Warn("error copying stdio data, stopping copy", "err", err)
			return
		}
	}
}

func (s *stdio) stream(stream grpc.ServerStream) error {
	for {
		var ch uint64
		var data []byte
		select {
		case data = <-s.out:
			ch = 1
		case data = <-s.err:
			ch = 2
		case <-stream.Context().Done():
			return nil
		}
		if len(data) == 0 {
			continue
		}
		b := protowire.AppendTag(nil, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, ch)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, data)
		if err := stream.SendMsg(&rawMsg{b: b}); err != nil {
			return err
		}
	}
}
