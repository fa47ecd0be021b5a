variable "region" {
  type    = string
  default = "paris"
  validation {
    condition     = length(var.region) == 3
    error_message = "A region is three letters, like \"par\"."
  }
}

job "demo" {}
