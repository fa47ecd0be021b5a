job "x" {
  max_task_bytes = 100
}
