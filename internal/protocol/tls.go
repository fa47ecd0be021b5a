package protocol

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"
)

// TLSEnv carries a pack's mutual-TLS material from the host: the host's
// certificate, and the certificate and key the pack serves with.
//
// go-plugin's AutoMTLS makes a fresh P-521 key pair on both sides of every
// launch, which costs tens of milliseconds per task. The host instead makes
// two P-256 key pairs once per run and hands the pack its own through this
// variable (which the pack removes from its environment at once): every
// connection is still mutually authenticated with keys that live only as
// long as the run.
const TLSEnv = "TASKHOST_PACK_TLS"

// RunTLS is a run's mutual-TLS material.
type RunTLS struct {
	// Client is the host's side: its certificate, trusting the pack's.
	Client *tls.Config
	// Env is the TLSEnv=… entry to give each pack process.
	Env string
}

type tlsMaterial struct {
	HostCert   []byte `json:"host_cert"`
	PackCert   []byte `json:"pack_cert"`
	PackKey    []byte `json:"pack_key"`
	ServerName string `json:"server_name"`
}

// NewRunTLS makes a run's key pairs.
func NewRunTLS() (*RunTLS, error) {
	hostCert, hostKey, err := selfSigned()
	if err != nil {
		return nil, err
	}
	packCert, packKey, err := selfSigned()
	if err != nil {
		return nil, err
	}
	host, err := tls.X509KeyPair(hostCert, hostKey)
	if err != nil {
		return nil, err
	}
	packPool := x509.NewCertPool()
	packPool.AppendCertsFromPEM(packCert)
	env, err := json.Marshal(tlsMaterial{HostCert: hostCert, PackCert: packCert, PackKey: packKey, ServerName: "localhost"})
	if err != nil {
		return nil, err
	}
	return &RunTLS{
		Client: &tls.Config{
			Certificates: []tls.Certificate{host},
			RootCAs:      packPool,
			ServerName:   "localhost",
			MinVersion:   tls.VersionTLS13,
		},
		Env: TLSEnv + "=" + string(env),
	}, nil
}

// PackTLS reads the pack's TLS configuration from the environment and
// removes it from there; ok is false when the host gave none.
func PackTLS() (cfg *tls.Config, ok bool, err error) {
	raw := os.Getenv(TLSEnv)
	if raw == "" {
		return nil, false, nil
	}
	os.Unsetenv(TLSEnv)
	var m tlsMaterial
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, true, fmt.Errorf("%s: %w", TLSEnv, err)
	}
	cert, err := tls.X509KeyPair(m.PackCert, m.PackKey)
	if err != nil {
		return nil, true, fmt.Errorf("%s: %w", TLSEnv, err)
	}
	hostPool := x509.NewCertPool()
	if !hostPool.AppendCertsFromPEM(m.HostCert) {
		return nil, true, errors.New(TLSEnv + ": no host certificate")
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    hostPool,
		ServerName:   m.ServerName,
		MinVersion:   tls.VersionTLS13,
	}, true, nil
}

// selfSigned makes a P-256 key and a self-signed certificate for
// "localhost", both PEM-encoded.
func selfSigned() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"taskhost"}},
		DNSNames:              []string{"localhost"},
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SerialNumber:          sn,
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
}
