// Package python holds the Python SDK (the taskhost package, beside this
// file) and the Go tests that run it through a real host. It embeds the
// SDK's modules (SDK), which `taskhost packs new --lang python` copies
// into a new pack.
package python
