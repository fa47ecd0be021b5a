package python

import (
	"embed"
	"io/fs"
)

//go:embed taskhost/*.py
var sdkFS embed.FS

// SDK is the Python SDK's modules: taskhost/*.py, the package a Python
// pack imports and builds with (python3 -m taskhost build).
func SDK() fs.FS { return sdkFS }
