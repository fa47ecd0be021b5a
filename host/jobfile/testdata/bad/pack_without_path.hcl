job "j" {}

pack "net" {
  max_parallel = 2
}
