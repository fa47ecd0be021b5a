variable "target" {
  default = "localhost"
}

variable "target" {
  type = string
}

job "demo" {}
