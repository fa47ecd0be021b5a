locals {
  secret = file("../../load.go")
}

job "demo" {}
