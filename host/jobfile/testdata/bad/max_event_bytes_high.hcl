job "x" {
  max_event_bytes = 1048576
}
