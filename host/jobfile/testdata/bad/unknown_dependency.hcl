job "demo" {}

pack "demo" {
  path = "demo"
}

task "hello" {
  pack       = "demo"
  task       = "hello"
  depends_on = [task.hello_world, task.setup]
}

task "hello_world" {
  pack = "demo"
  task = "hello"
}
