# A task on lab sjc's agent and one on lab nyc's; on their first attempt
# (hold set) they write their pids to dir and hold.
variable "dir" {
  type = string
}

variable "hold" {
  type = string
}

job "twolabs" {}

task "sjc" {
  pack = "agentpack"
  task = "work"
  args = { name = "sjc", lines = 3, dir = var.dir, hold = var.hold }
  placement {
    labels = { lab = "sjc" }
  }
}

task "nyc" {
  pack = "agentpack"
  task = "work"
  args = { name = "nyc", lines = 3, dir = var.dir, hold = var.hold }
  placement {
    labels = { lab = "nyc" }
  }
}
