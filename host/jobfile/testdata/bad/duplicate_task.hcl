job "demo" {}

pack "demo" {
  path = "demo"
}

task "hello" {
  pack = "demo"
  task = "hello"
}

task "hello" {
  pack = "demo"
  task = "goodbye"
}
