job "demo" {}

pack "demo" {
  path = "demo"
}

task "ping" {
  for_each = ["r1", "r2"]
  pack     = "demo"
  task     = "hello"
}