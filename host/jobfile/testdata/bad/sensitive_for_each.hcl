variable "creds" {
  type      = map(string)
  default   = { r1 = "pw1" }
  sensitive = true
}

job "demo" {}

pack "demo" {
  path = "demo"
}

task "login" {
  for_each = var.creds
  pack     = "demo"
  task     = "hello"
}
