required_packs {
  net = { version = "~> 1.2" }
}

required_packs {
  net = { version = "~> 1.3" }
}

job "j" {}
