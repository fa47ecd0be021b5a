job "demo" {}

pack "notify" {
  path = "notify"
}

hook "chat" {
  pack  = "notify"
  hook  = "webhook"
  order = "first"
}
