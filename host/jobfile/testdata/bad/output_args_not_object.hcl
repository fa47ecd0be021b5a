job "demo" {}

pack "demo" {
  path = "demo"
}

task "setup" {
  pack = "demo"
  task = "hello"
}

task "use" {
  pack = "demo"
  task = "hello"
  args = merge({ a = 1 }, { b = task.setup.output.b })
}