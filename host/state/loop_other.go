//go:build !linux

package state

// listen serves the socket with a goroutine per connection: there is no
// epoll loop here.
func listen(s *Server) (listener, error) { return listenPortable(s) }
