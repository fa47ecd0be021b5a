# One task on an agent of lab sjc that holds on its first attempt, after
# writing its pid to dir/victim.pid; its second attempt passes at once.
variable "dir" {
  type = string
}

job "victim" {}

task "victim" {
  pack    = "agentpack"
  task    = "work"
  args    = { name = "victim", lines = 3, dir = var.dir, hold = "300s" }
  retries = 1
  placement {
    labels = { lab = "sjc" }
  }
}
