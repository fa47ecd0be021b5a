# A jobfile using every feature.

variable "target" {
  type        = string
  default     = "localhost"
  description = "Device to check"
}

variable "count" {
  type    = number
  default = 1
}

variable "ports" {
  type    = list(number)
  default = [22]
}

variable "mode" {
  description = "Required, and of any type"
}

job "demo" {
  max_parallel = 4
  timeout      = "10m"
}

pack "demo" {
  path = "../bin/demo"
}

pack "tools" {
  path = "/opt/taskhost/tools/../bin/tools"
}

task "setup" {
  pack = "tools"
  task = "prepare"
}

task "hello" {
  pack       = "demo"
  task       = "hello"
  args       = { name = upper(var.target), count = var.count, ports = var.ports, mode = var.mode }
  depends_on = [task.setup, "setup"]
  timeout    = "30s"
}

task "check-2" {
  pack       = "demo"
  task       = "check"
  args       = {}
  depends_on = ["hello", task.setup]
}
