job "demo" {}

pack "demo" {
  path = "demo"
}

task "setup" {
  pack = "demo"
  task = "hello"
}

task "probe" {
  pack = "demo"
  task = "hello"
  args {
    addr = task.setup.output.addr
  }
}