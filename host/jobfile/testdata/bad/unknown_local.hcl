locals {
  site = "par"
}

job "demo" {
  timeout = local.timeot
}
