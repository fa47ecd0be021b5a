region = "par"
routers = { r1 = "10.0.0.1", r2 = "10.0.0.2" }
