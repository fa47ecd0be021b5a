// Command tlsproto is a pack for taskhost's own tests that speaks the pack
// protocol over TLS, as go-plugin's AutoMTLS serves it: it announces its
// certificate on the handshake line and takes only TLS connections,
// whether or not the host asked for TLS. A host that speaks the protocol
// without TLS cannot talk to it, and must say so with the versions each
// side speaks.
//
// With TLSPROTO_PROVIDER=1 it takes only TLS connections without
// announcing a certificate (a TLS configuration of its own, go-plugin's
// TLSProvider), as a pack does that a host hands TLS material to.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/protocol"
)

// unserved answers every call Unimplemented: no host that speaks the
// protocol without TLS gets as far as a call.
type unserved struct{ packv1.UnimplementedPackServer }

func main() {
	certPEM, keyPEM := selfSigned()
	cfg := &plugin.ServeConfig{
		HandshakeConfig: protocol.Handshake,
		GRPCServer:      plugin.DefaultGRPCServer,
	}
	if os.Getenv("TLSPROTO_PROVIDER") == "1" {
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			panic(err)
		}
		cfg.TLSProvider = func() (*tls.Config, error) {
			return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}, nil
		}
	} else {
		// go-plugin's server serves AutoMTLS when the host gave it a
		// client certificate: this pack gives itself one.
		os.Setenv("PLUGIN_CLIENT_CERT", string(certPEM))
	}
	cfg.VersionedPlugins = map[int]plugin.PluginSet{1: protocol.PluginSets(unserved{})[1]}
	plugin.Serve(cfg)
}

// selfSigned makes a P-256 key and a self-signed certificate for
// "localhost", both PEM-encoded.
func selfSigned() (certPEM, keyPEM []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SerialNumber:          big.NewInt(1),
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		panic(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}
