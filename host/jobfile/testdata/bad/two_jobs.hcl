job "demo" {}

job "other" {
  max_parallel = 2
}
