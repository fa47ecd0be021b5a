job "demo" {}

pack "demo" {
  path = "demo"
}

task "hello" {
  pack       = "demo"
  task       = "hello"
  depends_on = [pack.demo]
}
