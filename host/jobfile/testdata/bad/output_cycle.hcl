job "demo" {}

pack "demo" {
  path = "demo"
}

task "a" {
  pack = "demo"
  task = "hello"
  args = { x = task.b.output.x }
}

task "b" {
  pack       = "demo"
  task       = "hello"
  depends_on = [task.a]
}