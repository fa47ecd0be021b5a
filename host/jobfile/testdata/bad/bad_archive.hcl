job "demo" {
  archive = "yes please"
}
