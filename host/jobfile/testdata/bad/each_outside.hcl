job "demo" {}

pack "demo" {
  path = "demo"
}

task "ping" {
  pack = "demo"
  task = "hello"
  args = { name = each.key }
}