job "demo" {}

pack "demo" {
  path = "demo"
}

task "ping" {
  count    = 2
  for_each = toset(["a"])
  pack     = "demo"
  task     = "hello"
}