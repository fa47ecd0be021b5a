package lab

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
	"net"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/taskhost/taskhost/host/agentwire"
)

// The files of a lab directory.
const (
	CertFile   = "hub-cert.pem"
	KeyFile    = "hub-key.pem"
	AgentsFile = "agents.json"
)

// DefaultDir is the lab directory when none is given: $TASKHOST_LAB, else
// taskhost/lab in the user's configuration directory
// (~/.config/taskhost/lab on Linux).
func DefaultDir() string {
	if d := os.Getenv("TASKHOST_LAB"); d != "" {
		return d
	}
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "taskhost", "lab")
	}
	return filepath.Join(".taskhost", "lab")
}

// certValidity is how long the hub's certificate Init makes is valid.
const certValidity = 5 * 365 * 24 * time.Hour

// Init makes the lab directory dir (0700) and the hub's certificate and
// key for hosts (names and IP addresses the agents reach the host by;
// localhost and 127.0.0.1 are always added), unless dir has them: then
// it changes nothing and says so (made is false).
func Init(dir string, hosts []string) (made bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	if err := checkPrivate(dir); err != nil {
		return false, err
	}
	if _, err := os.Stat(filepath.Join(dir, CertFile)); err == nil {
		return false, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return false, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return false, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "taskhost hub", Organization: []string{"taskhost"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // its own CA: agents verify against it
	}
	seen := map[string]bool{}
	for _, h := range append([]string{"localhost", "127.0.0.1"}, hosts...) {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return false, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return false, err
	}
	if err := writeFile(filepath.Join(dir, KeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return false, err
	}
	if err := writeFile(filepath.Join(dir, CertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return false, err
	}
	return true, nil
}

// checkPrivate refuses a lab directory others may enter: it holds the
// hub's key and the list of who may connect.
func checkPrivate(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("lab directory %s: mode %v lets others in; it must be 0700 (chmod 700 %s)", dir, st.Mode().Perm(), dir)
	}
	return nil
}

// ServerTLS is the hub's TLS configuration from dir's certificate and key.
func ServerTLS(dir string) (*tls.Config, error) {
	if err := checkPrivate(dir); err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("lab %s: the hub's certificate: %w (taskhost agent init makes it)", dir, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// Agent is an admitted agent, as the agents file has it.
type Agent struct {
	Name      string    `json:"name"`
	PublicKey string    `json:"public_key"`
	Added     time.Time `json:"added"`
}

type agentsFile struct {
	Agents []Agent `json:"agents"`
}

// Agents reads dir's agents file; none if there is none.
func Agents(dir string) ([]Agent, error) {
	b, err := os.ReadFile(filepath.Join(dir, AgentsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f agentsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, AgentsFile), err)
	}
	return f.Agents, nil
}

// Keys returns a function that reads dir's agents file each time it is
// called, as host/hub wants it: name to public key.
func Keys(dir string) func() (map[string]string, error) {
	return func() (map[string]string, error) {
		as, err := Agents(dir)
		if err != nil {
			return nil, err
		}
		m := make(map[string]string, len(as))
		for _, a := range as {
			m[a.Name] = a.PublicKey
		}
		return m, nil
	}
}

func writeAgents(dir string, as []Agent) error {
	sort.Slice(as, func(i, j int) bool { return as[i].Name < as[j].Name })
	b, err := json.MarshalIndent(agentsFile{Agents: as}, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, AgentsFile), append(b, '\n'), 0o600)
}

// Add admits the agent name with a new nkey: its public key goes into
// the agents file (replacing the agent's old key, if it had one), and its
// seed is written to seedFile (0600), which must not exist. It returns
// the public key.
func Add(dir, name, seedFile string) (string, error) {
	if err := agentwire.CheckName("agent", name); err != nil {
		return "", err
	}
	if err := checkPrivate(dir); err != nil {
		return "", err
	}
	as, err := Agents(dir)
	if err != nil {
		return "", err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", err
	}
	seed, err := kp.Seed()
	if err != nil {
		return "", err
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(seedFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("the agent's key file: %w", err)
	}
	_, err = f.Write(append(seed, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(seedFile)
		return "", err
	}
	kept := as[:0]
	for _, a := range as {
		if a.Name != name {
			kept = append(kept, a)
		}
	}
	kept = append(kept, Agent{Name: name, PublicKey: pub, Added: time.Now().UTC().Truncate(time.Second)})
	if err := writeAgents(dir, kept); err != nil {
		os.Remove(seedFile)
		return "", err
	}
	return pub, nil
}

// Revoke removes the agent name from the agents file; false if it was not
// there.
func Revoke(dir, name string) (bool, error) {
	as, err := Agents(dir)
	if err != nil {
		return false, err
	}
	kept := as[:0]
	for _, a := range as {
		if a.Name != name {
			kept = append(kept, a)
		}
	}
	if len(kept) == len(as) {
		return false, nil
	}
	return true, writeAgents(dir, kept)
}

// ReadSeed reads an agent's key file (Add's seedFile), refusing one that
// others may read.
func ReadSeed(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %v lets others read the agent's key; it must be 0600 (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b, nil
}

// writeFile writes b to path through a temporary file renamed over it, so
// a reader never sees half of it.
func writeFile(path string, b []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
