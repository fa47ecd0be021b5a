job "demo" {}

pack "demo" {
  path = "demo"
}

task "ping" {
  count = -1
  pack  = "demo"
  task  = "hello"
}