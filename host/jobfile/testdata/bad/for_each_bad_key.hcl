job "demo" {}

pack "demo" {
  path = "demo"
}

task "fetch" {
  for_each = toset(["a", "etc/passwd"])
  pack     = "demo"
  task     = "hello"
}