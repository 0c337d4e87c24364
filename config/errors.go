package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is the sentinel every configuration error matches with errors.Is.
var ErrInvalid = errors.New("invalid configuration")

// Problem is one thing wrong with the configuration, located at a file and
// line (or at the environment variable that set the value).
type Problem struct {
	// File is the configuration file, or "$NAME" for an environment variable.
	File string
	// Line and Column are 1-based; 0 when unknown (a missing key, an
	// environment variable).
	Line, Column int
	// Path is the key path, e.g. routing.rules[2].match.series_description.
	Path string
	// Reason says what is wrong and what is expected.
	Reason string
}

// String formats the problem as file:line:column: path: reason.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, ":%d", p.Column)
		}
	}
	b.WriteString(": ")
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Reason)
	return b.String()
}

// Error gathers every problem found in one load, so an administrator fixes
// them all in one pass. It matches ErrInvalid.
type Error struct {
	Problems []Problem
}

// Error lists the problems, one per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return fmt.Sprintf("%d configuration problem(s):\n  %s", len(e.Problems), strings.Join(lines, "\n  "))
}

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }
