package jobfile

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// sourceKind says how a source is lexed: a whole file (a jobfile or an
// HCL var file), one expression (a -var value) or a template
// (templatefile).
type sourceKind int

const (
	sourceConfig sourceKind = iota
	sourceExpression
	sourceTemplate
)

// checkSource checks src before HCL parses it: its size, how deeply it
// nests (MaxDepth) and how long its numbers are (MaxNumberLength). HCL's
// parser recurses once for each bracket, unary operator and template
// directive, and its evaluator once for each operator of a chain, with no
// limit of its own; and it reads a number literal in time quadratic in
// its length. The source is only lexed here (a state machine, without
// recursion), so the check itself cannot overflow or take long.
//
// Depth counts the open brackets, braces, parentheses, strings, heredocs
// and template sequences, the %{if} and %{for} directives open, and, at
// each of these levels, the operators (unary, binary, ?, and an index
// [...] after a value) since the last comma or newline: each makes one
// more node that the next one nests in.
func checkSource(src []byte, filename string, kind sourceKind) hcl.Diagnostics {
	if len(src) > MaxSourceBytes {
		return hcl.Diagnostics{limitDiag("Source too large",
			fmt.Sprintf("%s is %s bytes; at most %s of HCL are read", filename, thousands(len(src)), thousands(MaxSourceBytes)),
			&hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos})}
	}
	var tokens hclsyntax.Tokens
	switch kind {
	case sourceTemplate:
		tokens, _ = hclsyntax.LexTemplate(src, filename, hcl.InitialPos)
	case sourceExpression:
		tokens, _ = hclsyntax.LexExpression(src, filename, hcl.InitialPos)
	default:
		tokens, _ = hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	}

	type level struct {
		open hclsyntax.TokenType
		ops  int
	}
	// The root level is a body (config), an expression or a template.
	root := hclsyntax.TokenOBrace
	if kind == sourceTemplate {
		root = hclsyntax.TokenOQuote
	} else if kind == sourceExpression {
		root = hclsyntax.TokenOParen
	}
	stack := []level{{open: root}}
	depth := 0 // len(stack)-1 plus the ops of every level
	prev := hclsyntax.TokenNil
	for i, tok := range tokens {
		top := &stack[len(stack)-1]
		switch tok.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen, hclsyntax.TokenOQuote,
			hclsyntax.TokenOHeredoc, hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			if tok.Type == hclsyntax.TokenOBrack && endsValue(prev) {
				top.ops++ // an index: x[0][1] nests
				depth++
			}
			stack = append(stack, level{open: tok.Type})
			depth++
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenCQuote,
			hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
			// Only a closer that matches pops: a stray one does not make
			// the count smaller than what the parser sees.
			if len(stack) > 1 && closes(top.open, tok.Type) {
				depth -= 1 + top.ops
				stack = stack[:len(stack)-1]
			}
		case hclsyntax.TokenPlus, hclsyntax.TokenMinus, hclsyntax.TokenStar, hclsyntax.TokenSlash,
			hclsyntax.TokenPercent, hclsyntax.TokenEqualOp, hclsyntax.TokenNotEqual, hclsyntax.TokenLessThan,
			hclsyntax.TokenLessThanEq, hclsyntax.TokenGreaterThan, hclsyntax.TokenGreaterThanEq,
			hclsyntax.TokenAnd, hclsyntax.TokenOr, hclsyntax.TokenBang, hclsyntax.TokenQuestion:
			top.ops++
			depth++
		case hclsyntax.TokenComma:
			depth -= top.ops
			top.ops = 0
		case hclsyntax.TokenNewline:
			// Newlines separate attributes and object items; inside
			// brackets and parentheses they are only space.
			if top.open == hclsyntax.TokenOBrace {
				depth -= top.ops
				top.ops = 0
			}
		case hclsyntax.TokenIdent:
			// %{if} and %{for} open a level of the template they are in,
			// %{endif} and %{endfor} close it.
			if prev == hclsyntax.TokenTemplateControl && len(stack) >= 2 {
				tmpl := &stack[len(stack)-2]
				switch string(tok.Bytes) {
				case "if", "for":
					tmpl.ops++
					depth++
				case "endif", "endfor":
					if tmpl.ops > 0 {
						tmpl.ops--
						depth--
					}
				}
			}
		case hclsyntax.TokenNumberLit:
			if len(tok.Bytes) > MaxNumberLength {
				return hcl.Diagnostics{limitDiag("Number too long",
					fmt.Sprintf("This number is written with %s characters; a number may have at most %d", thousands(len(tok.Bytes)), MaxNumberLength),
					tokens[i].Range.Ptr())}
			}
		}
		if depth > MaxDepth {
			return hcl.Diagnostics{limitDiag("Nested too deeply",
				fmt.Sprintf("The expression here nests more than %d levels deep: brackets, braces, parentheses, strings, templates and operators each count one", MaxDepth),
				tokens[i].Range.Ptr())}
		}
		if tok.Type != hclsyntax.TokenComment {
			prev = tok.Type
		}
	}
	return nil
}

// endsValue reports whether a token of type t can end a value, so that a
// [ after it is an index rather than a tuple.
func endsValue(t hclsyntax.TokenType) bool {
	switch t {
	case hclsyntax.TokenIdent, hclsyntax.TokenNumberLit, hclsyntax.TokenCBrack, hclsyntax.TokenCParen,
		hclsyntax.TokenCBrace, hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc, hclsyntax.TokenStar:
		return true
	}
	return false
}

// closes reports whether the token type closer closes opener.
func closes(opener, closer hclsyntax.TokenType) bool {
	switch opener {
	case hclsyntax.TokenOBrace:
		return closer == hclsyntax.TokenCBrace
	case hclsyntax.TokenOBrack:
		return closer == hclsyntax.TokenCBrack
	case hclsyntax.TokenOParen:
		return closer == hclsyntax.TokenCParen
	case hclsyntax.TokenOQuote:
		return closer == hclsyntax.TokenCQuote
	case hclsyntax.TokenOHeredoc:
		return closer == hclsyntax.TokenCHeredoc
	case hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
		return closer == hclsyntax.TokenTemplateSeqEnd
	}
	return false
}

// checkJSON is checkSource for JSON (a .json var file, the text given to
// jsondecode): its size, how deeply its arrays and objects nest, and how
// long its numbers are. With maxValues > 0 it also checks that it holds at
// most that many values. HCL's JSON parser recurses for each level, and
// both it and go-cty's read numbers in quadratic time.
func checkJSON(src []byte, filename string, maxValues int) hcl.Diagnostics {
	at := func(offset int) *hcl.Range {
		pos := hcl.Pos{Line: 1, Column: 1, Byte: offset}
		for _, c := range src[:offset] {
			if c == '\n' {
				pos.Line++
				pos.Column = 1
			} else {
				pos.Column++
			}
		}
		return &hcl.Range{Filename: filename, Start: pos, End: pos}
	}
	if len(src) > MaxFileBytes {
		return hcl.Diagnostics{limitDiag("Source too large",
			fmt.Sprintf("%s is %s bytes; at most %s are read", filename, thousands(len(src)), thousands(MaxFileBytes)), at(0))}
	}
	depth, values, number := 0, 0, 0
	inString, escaped := false, false
	for i, c := range src {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' || (c >= '0' && c <= '9') {
			number++
			if number > MaxNumberLength {
				return hcl.Diagnostics{limitDiag("Number too long",
					fmt.Sprintf("A number here is written with more than %d characters", MaxNumberLength), at(i-number+1))}
			}
			continue
		}
		number = 0
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			values++
			if depth > MaxDepth {
				return hcl.Diagnostics{limitDiag("Nested too deeply",
					fmt.Sprintf("The arrays and objects here nest more than %d levels deep", MaxDepth), at(i))}
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		case ',':
			values++
		}
		if maxValues > 0 && values > maxValues {
			return hcl.Diagnostics{limitDiag("Value too large",
				fmt.Sprintf("The JSON here holds more than %s values; a value may hold at most %s", thousands(maxValues), thousands(maxValues)), at(i))}
		}
	}
	return nil
}
