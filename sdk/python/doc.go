// Package python holds the Python SDK (the taskhost module under
// taskhost/), and its tests against the real host and hub.
package python
