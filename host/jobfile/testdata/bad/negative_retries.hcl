job "demo" {}

pack "demo" {
  path = "demo"
}

task "hello" {
  pack    = "demo"
  task    = "hello"
  retries = -1
}
