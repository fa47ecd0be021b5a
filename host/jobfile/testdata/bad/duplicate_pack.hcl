job "demo" {}

pack "demo" {
  path = "demo"
}

pack "demo" {
  path = "demo2"
}
