# Go and Python tasks in one job: the Go demo pack looks a device up, the
# Python pynet pack takes its output and counts in the shared state, a Go
# task reads the Python task's output, and pynet's aetest-style
# testscript runs beside them.
# Build the packs first (make build), then: bin/taskhost run jobs/mixed.hcl

variable "device" {
  type    = string
  default = "r1.lab"
}

job "mixed" {
  max_parallel = 4
  timeout      = "5m"
}

pack "demo" {
  path = "../bin/demo"
}

pack "pynet" {
  path = "../bin/pynet"
}

pack "exec" {
  path = "../bin/exec"
}

state {
  hits = 0
}

task "lookup" {
  pack = "demo"
  task = "lookup"
  args = { name = var.device }
}

task "relay" {
  pack = "pynet"
  task = "relay"
  args = { addr = task.lookup.output.addr, port = 830, times = 3 }
}

task "show" {
  pack = "exec"
  task = "run"
  args = {
    command       = "echo"
    args          = ["${task.relay.output.target}, ${task.relay.output.count} hits"]
    expect_output = "${task.lookup.output.addr}:830"
  }
}

task "testscript" {
  pack = "pynet"
  task = "testscript"
  args = { device = var.device, down = ["Gi0/2"] }
}

task "hello" {
  pack       = "demo"
  task       = "hello"
  args       = { name = "python", times = 2 }
  depends_on = [task.relay]
}
