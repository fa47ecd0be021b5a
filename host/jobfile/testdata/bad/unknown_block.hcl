job "demo" {}

pack "demo" {
  path = "demo"
}

stage "build" {
}
