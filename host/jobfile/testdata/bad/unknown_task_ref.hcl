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
  args = { addr = task.stup.output.addr }
}