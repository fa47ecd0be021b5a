job "demo" {}

pack "demo" {
  path = "demo"
}

task "ping" {
  count = 2
  pack  = "demo"
  task  = "hello"
}

task "report" {
  pack       = "demo"
  task       = "hello"
  depends_on = [task.ping[2]]
}