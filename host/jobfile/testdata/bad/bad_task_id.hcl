job "demo" {}

pack "demo" {
  path = "demo"
}

task "1st.task" {
  pack = "demo"
  task = "hello"
}
