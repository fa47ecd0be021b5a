// Package testtls makes a certificate authority and a server certificate
// it signed, in memory, for tests of TLS connections (a hub reached over
// TLS). Test code only.
package testtls
