job "demo" {}

pack "notify" {
  path = "notify"
}

hook "chat" {
  pack = "notify"
  hook = "webhook"
}

hook "chat" {
  pack = "notify"
  hook = "webhook"
}
