variable "count" {
  type = integer
}

job "demo" {}
