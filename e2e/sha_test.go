package e2e

import (
	"crypto/sha256"
	"encoding/hex"
)

func sha256OfBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
