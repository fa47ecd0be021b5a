job "demo" {
  max_parallel = 0
}
