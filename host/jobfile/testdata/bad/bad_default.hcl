variable "count" {
  type    = number
  default = "three"
}

job "demo" {}
