required_packs {
  net = { versions = "1.2.0" }
}

job "j" {}
