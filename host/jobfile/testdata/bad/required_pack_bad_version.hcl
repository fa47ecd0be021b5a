required_packs {
  net = { version = ">= 1.2, <<< 2.0" }
}

job "j" {}
