variable "token" {
  type      = string
  default   = "hunter2"
  sensitive = true
}

job "demo" {}

state {
  token = var.token
}
