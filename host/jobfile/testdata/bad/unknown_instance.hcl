job "demo" {}

pack "demo" {
  path = "demo"
}

task "ping" {
  for_each = toset(["r1", "r2"])
  pack     = "demo"
  task     = "hello"
}

task "report" {
  pack = "demo"
  task = "hello"
  args = { addr = task.ping["r9"].output.addr }
}