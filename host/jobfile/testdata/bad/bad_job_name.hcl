job "../escape" {}

pack "demo" {
  path = "demo"
}
