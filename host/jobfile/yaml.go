package jobfile

import (
	"fmt"
	"strings"

	ctyyaml "github.com/zclconf/go-cty-yaml"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"gopkg.in/yaml.v3"
)

// yamlDecodeFunc is Terraform's yamldecode (go-cty-yaml's), checked first
// against the limits: YAML's aliases let a few lines stand for a value of
// billions of elements ("billion laughs"), which go-cty-yaml shares
// rather than copies but which every later step would walk, and its
// decoder recurses once per level of nesting. The type is found when the
// function is called, not before, so that the check comes first.
var yamlDecodeFunc = function.New(&function.Spec{
	Description: ctyyaml.YAMLDecodeFunc.Description(),
	Params:      []function.Parameter{{Name: "src", Type: cty.String}},
	Type:        function.StaticReturnType(cty.DynamicPseudoType),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		src := []byte(args[0].AsString())
		if err := checkYAML(src); err != nil {
			return cty.NilVal, err
		}
		ty, err := ctyyaml.Standard.ImpliedType(src)
		if err != nil {
			return cty.NilVal, err
		}
		return ctyyaml.Standard.Unmarshal(src, ty)
	},
})

// checkYAML parses src with a second parser, which keeps aliases as
// references and refuses more than 10,000 levels of nesting, and counts
// the value src stands for with every alias expanded: at most
// MaxValueElements elements and MaxValueBytes of text, at most MaxDepth
// levels deep. Each node is counted once (aliases share their counts),
// so the check takes time linear in src.
func checkYAML(src []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return fmt.Errorf("invalid YAML: %w", err)
	}
	type size struct{ elems, bytes, depth int }
	sizes := map[*yaml.Node]size{}
	var walk func(n *yaml.Node, level int) (size, error)
	walk = func(n *yaml.Node, level int) (size, error) {
		if level > MaxDepth+1 {
			return size{}, &limitError{"Value nested too deeply", fmt.Sprintf("The YAML nests more than %d levels deep", MaxDepth)}
		}
		if s, ok := sizes[n]; ok {
			return s, nil
		}
		s := size{elems: 1}
		if n.Kind == yaml.ScalarNode {
			s.bytes = len(n.Value)
			// A plain scalar of digits is a number to go-cty-yaml, of
			// whatever length.
			if n.Style == 0 && strings.Trim(n.Value, "0123456789+-.eE") == "" {
				if err := checkNumberText(n.Value); err != nil {
					return size{}, err
				}
			}
		}
		kids := n.Content
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			kids, s.elems = []*yaml.Node{n.Alias}, 0
		}
		for _, k := range kids {
			ks, err := walk(k, level+1)
			if err != nil {
				return size{}, err
			}
			s.elems += ks.elems
			s.bytes += ks.bytes
			s.depth = max(s.depth, ks.depth+1)
			if s.elems > MaxValueElements {
				return size{}, tooLarge("more than "+thousands(MaxValueElements), MaxValueElements, "elements (counted at every level, aliases expanded)")
			}
			if s.bytes > MaxValueBytes {
				return size{}, tooLarge("more than "+thousands(MaxValueBytes), MaxValueBytes, "bytes of text (aliases expanded)")
			}
			if s.depth > MaxDepth+1 {
				return size{}, &limitError{"Value nested too deeply", fmt.Sprintf("The YAML nests more than %d levels deep (aliases expanded)", MaxDepth)}
			}
		}
		sizes[n] = s
		return s, nil
	}
	_, err := walk(&doc, 0)
	if le, ok := err.(*limitError); ok {
		return le
	}
	return err
}
