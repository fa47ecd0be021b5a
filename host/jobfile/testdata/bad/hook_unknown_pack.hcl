job "demo" {}

pack "notify" {
  path = "notify"
}

hook "chat" {
  pack = "notfy"
  hook = "webhook"
}
