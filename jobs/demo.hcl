# The demo job: the demo pack's tasks and two checks with the exec pack.
# Build the packs first (make build), then: bin/taskhost run jobs/demo.hcl

variable "device" {
  type        = string
  default     = "r1.lab"
  description = "The device the checks report on (nothing is contacted)."
}

job "demo" {
  max_parallel = 4
  timeout      = "5m"
}

pack "demo" {
  path = "../bin/demo"
}

pack "exec" {
  path = "../bin/exec"
}

task "hello" {
  pack = "demo"
  task = "hello"
  args = { name = "taskhost", times = 2 }
}

task "uname" {
  pack = "exec"
  task = "run"
  args = {
    command       = "uname"
    args          = ["-s"]
    expect_output = "Linux"
  }
}

task "checks" {
  pack       = "demo"
  task       = "checks"
  args       = { device = var.device }
  depends_on = [task.hello]
}

task "crash" {
  pack = "demo"
  task = "crash"
}

task "slow" {
  pack    = "demo"
  task    = "wait"
  args    = { duration = "10s" }
  timeout = "1s"
}

task "report" {
  pack       = "exec"
  task       = "run"
  args       = { command = "true" }
  depends_on = [task.checks]
}
