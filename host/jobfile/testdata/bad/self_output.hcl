job "demo" {}

pack "demo" {
  path = "demo"
}

task "a" {
  pack = "demo"
  task = "hello"
  args = { x = task.a.output.x }
}