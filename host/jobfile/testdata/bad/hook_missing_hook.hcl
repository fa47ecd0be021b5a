job "demo" {}

pack "notify" {
  path = "notify"
}

hook "chat" {
  pack = "notify"
}
