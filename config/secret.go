package config

import (
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Secret is a value read from a file or an environment variable, never
// written in node.yaml itself, so the file can be shared and versioned. It is
// masked whenever the configuration is printed.
//
//	token: {file: /run/secrets/webhook_token}
//	token: {env: WEBHOOK_TOKEN}
type Secret struct {
	// File is read once at load; surrounding white space is trimmed.
	File string `yaml:"file,omitempty"`
	// Env names the environment variable holding the value.
	Env string `yaml:"env,omitempty"`

	value  string
	origin string
}

// Value returns the secret, or "" when unset.
func (s Secret) Value() string { return s.value }

// IsSet reports whether the secret has a non-empty value.
func (s Secret) IsSet() bool { return s.value != "" }

// String masks the value.
func (s Secret) String() string {
	if s.value == "" {
		return "(unset)"
	}
	return "***** (from " + s.origin + ")"
}

// MarshalYAML prints the secret masked, with where it came from.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// errInlineSecret explains the one accepted form.
const errInlineSecret = "secrets are not written in the file: use {file: PATH} or {env: NAME}, or set the matching MHPNET_ environment variable"

// UnmarshalYAML accepts only the {file: ...} / {env: ...} mapping.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		// A *yaml.TypeError lets the decoder go on and report the other
		// problems of the file too.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, errInlineSecret)}}
	}
	type plain struct {
		File string `yaml:"file"`
		Env  string `yaml:"env"`
	}
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	s.File, s.Env = p.File, p.Env
	return nil
}

// resolve reads the secret from its file or environment variable.
func (s *Secret) resolve(lookup func(string) (string, bool)) error {
	switch {
	case s.File != "" && s.Env != "":
		return fmt.Errorf("give either file or env, not both")
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return fmt.Errorf("reading secret file: %w", err)
		}
		s.value, s.origin = strings.TrimSpace(string(b)), "file "+s.File
		if s.value == "" {
			return fmt.Errorf("secret file %s is empty", s.File)
		}
	case s.Env != "":
		v, ok := lookup(s.Env)
		if !ok || v == "" {
			return fmt.Errorf("environment variable %s is not set or empty", s.Env)
		}
		s.value, s.origin = v, "env "+s.Env
	}
	return nil
}

// NewSecret returns a secret holding v, for tests and programmatic use; origin
// says where it came from when printed.
func NewSecret(v, origin string) Secret { return Secret{value: v, origin: origin} }
