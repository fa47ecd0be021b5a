job "demo" {}

pack "demo" {
  path = "demo"
}

task "ok" {
  pack = "demo"
  task = "hello"
}

task "a" {
  pack       = "demo"
  task       = "hello"
  depends_on = [task.ok, task.b]
}

task "b" {
  pack       = "demo"
  task       = "hello"
  depends_on = [task.c]
}

task "c" {
  pack       = "demo"
  task       = "hello"
  depends_on = [task.a]
}
