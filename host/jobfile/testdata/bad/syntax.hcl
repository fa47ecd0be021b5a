job "demo" {}

task "hello" {
  pack = "demo" "extra"
  task = "hello"
}
