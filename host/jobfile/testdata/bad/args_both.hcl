job "demo" {}

pack "demo" {
  path = "demo"
}

task "probe" {
  pack = "demo"
  task = "hello"
  args = { a = 1 }
  args {
    b = 2
  }
}