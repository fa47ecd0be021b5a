// Package python holds the Python SDK of taskhost (the package taskhost
// in this directory, standard library only; see docs/python.md) and
// embeds its modules, so that `taskhost packs new --lang python` can
// vendor the SDK into a new pack. Its Go tests run the SDK's Python
// tests and drive Python packs against the real host.
package python
