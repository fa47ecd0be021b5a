required_packs {
  net = { version = "~> 1.2" }
}

job "j" {}

pack "net" {
  path = "bin/net"
}
