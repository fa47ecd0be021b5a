job "demo" {}

pack "demo" {
  path = "demo"
}

task "probe" {
  pack = "demo"
  task = "hello"
  args {
    dynamic "target" {
      for_each = ["a", "b"]
    }
  }
}