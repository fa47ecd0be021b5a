locals {
  site = "par"
}

locals {
  site = "ams"
}

job "demo" {}
