# Tasks on the host, on agents of lab sjc (the job's default and their
# own placement), and on lab nyc's agent; every one adds 1 to count.
job "mixed" {
  placement {
    labels = { lab = "sjc" }
  }
}

task "local1" {
  pack = "agentpack"
  task = "work"
  args = { name = "local1", lines = 20 }
  placement {
    local = true
  }
}

task "local2" {
  pack = "agentpack"
  task = "work"
  args = { name = "local2", lines = 20 }
  placement {
    local = true
  }
}

task "sjc1" {
  pack = "agentpack"
  task = "work"
  args = { name = "sjc1", lines = 20 }
  placement {
    labels = { lab = "sjc" }
  }
}

task "sjc2" {
  pack = "agentpack"
  task = "work"
  args = { name = "sjc2", lines = 20 }
  placement {
    labels = { lab = "sjc" }
  }
}

task "sjc3" {
  pack = "agentpack"
  task = "work"
  args = { name = "sjc3", lines = 20 }
  placement {
    labels = { lab = "sjc" }
  }
}

task "nyc1" {
  pack = "agentpack"
  task = "work"
  args = { name = "nyc1", lines = 20 }
  placement {
    labels = { lab = "nyc", os = "linux" }
  }
}

task "nyc2" {
  pack = "agentpack"
  task = "work"
  args = { name = "nyc2", lines = 20 }
  placement {
    labels = { lab = "nyc", os = "linux" }
  }
}

task "default1" {
  pack = "agentpack"
  task = "work"
  args = { name = "default1", lines = 20 }
}

task "default2" {
  pack = "agentpack"
  task = "work"
  args = { name = "default2", lines = 20 }
}

task "default3" {
  pack = "agentpack"
  task = "work"
  args = { name = "default3", lines = 20 }
}
