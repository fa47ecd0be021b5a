package jobfile

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// evalContext returns the context jobfile expressions are evaluated in:
// var.NAME for each variable, and a few functions.
func evalContext(vars map[string]cty.Value) *hcl.EvalContext {
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var": cty.ObjectVal(vars),
		},
		Functions: functions(),
	}
}

// functions returns the functions available in jobfile expressions.
func functions() map[string]function.Function {
	return map[string]function.Function{
		"concat":   stdlib.ConcatFunc,
		"format":   stdlib.FormatFunc,
		"join":     stdlib.JoinFunc,
		"length":   stdlib.LengthFunc,
		"lower":    stdlib.LowerFunc,
		"merge":    stdlib.MergeFunc,
		"tobool":   stdlib.MakeToFunc(cty.Bool),
		"tonumber": stdlib.MakeToFunc(cty.Number),
		"tostring": stdlib.MakeToFunc(cty.String),
		"upper":    stdlib.UpperFunc,
	}
}
