// Package python holds the Python SDK (the taskhost package, beside this
// file) and the Go tests that run it through a real host.
package python
