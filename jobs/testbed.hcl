# A task for each device of a pyATS testbed: yamldecode reads the testbed
# (testbed.yaml beside this file) and for_each makes one task per device.
# Build the packs first (make build), then: bin/taskhost run jobs/testbed.hcl

locals {
  testbed = yamldecode(file("testbed.yaml"))
  devices = local.testbed.devices
}

job "testbed" {
  max_parallel = 4
  timeout      = "5m"
}

pack "demo" {
  path = "../bin/demo"
}

# One lookup per device: the task id is lookup["r1"] and so on.
task "lookup" {
  for_each = local.devices
  pack     = "demo"
  task     = "lookup"
  args     = { name = each.key }
}

# A greeting per device, from what the testbed says about it.
task "hello" {
  for_each = local.devices
  pack     = "demo"
  task     = "hello"
  args = {
    name = format("%s (%s %s at %s:%d)", each.key, each.value.type, each.value.os,
    each.value.connections.cli.ip, try(each.value.connections.cli.port, 22))
  }
  depends_on = [task.lookup[each.key]]
}
