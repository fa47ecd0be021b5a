job "demo" {}

pack "demo" {
  path = "demo"
}

task "hello" {
  pack = "dmeo"
  task = "hello"
}
