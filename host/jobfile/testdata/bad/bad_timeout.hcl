job "demo" {
  timeout = "10 minutes"
}
