// Package eventwire is the result events' wire form, both ways: ToWire is
// what a task's SDK sends on the hub, Events and Event are what the hub
// reads of it (into internal/report's types). It is the one place either
// side converts an event to or from the pack protocol's protobuf, and
// needs nothing of the host, so a pack's build holds it.
package eventwire
