// Package state is the run's shared-state server: it keeps the state in
// the host's memory and serves it to task processes over a Unix socket
// (the state protocol of internal/statekv), one request and one answer at
// a time per connection, as a Redis client and server talk.
//
// Every change gets the next revision of the run; a writer's request
// carries a number, and the answer to each of the writer's recent writes
// is kept, so that a request sent again after a lost connection is
// answered, not applied twice. The latest value of each key is written
// behind to a Bucket (the hub's JetStream key/value bucket, at most
// journalDelay after the change), so that the record in the run
// directory holds the state when the host dies.
//
// On Linux one thread serves every connection from an epoll loop
// (loop_linux.go); elsewhere a goroutine serves each (portable.go).
package state
