# One task that only an agent of lab sjc may run.
job "sjc" {}

task "sjc" {
  pack = "agentpack"
  task = "work"
  args = { name = "sjc", lines = 3 }
  placement {
    labels = { lab = "sjc" }
  }
}
