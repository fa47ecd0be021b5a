# A job that posts its summary to a webhook when it ends (docs/hooks.md).
# Build the packs first (make build), then:
#   bin/taskhost run jobs/notify.hcl -var webhook=https://chat.example.com/hooks/T0123

variable "webhook" {
  type        = string
  description = "Where the notify pack posts the run's summary."
}

job "notify" {}

pack "exec" {
  path = "../bin/exec"
}

pack "notify" {
  path = "../bin/notify"
}

task "uname" {
  pack = "exec"
  task = "run"
  args = { command = "uname", args = ["-s"], expect_output = "Linux" }
}

hook "chat" {
  pack = "notify"
  hook = "webhook"
  args = { url = var.webhook }
}
