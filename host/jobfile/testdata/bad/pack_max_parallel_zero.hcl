job "demo" {}

pack "demo" {
  path         = "demo"
  max_parallel = 0
}
