package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Load reads the configuration file at path, applies the environment
// overrides from the process environment and validates the result. Every
// problem found is returned at once in an *Error (errors.Is ErrInvalid).
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse is Load on bytes already read; file names them in problems, and
// lookup reads environment variables (os.LookupEnv in production).
func Parse(file string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	c := Default()
	c.File = file
	v := &validator{file: file, lines: map[string]pos{}}

	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		// A syntax error stops the parse: nothing after it can be trusted.
		v.yamlError(err)
		return nil, v.err()
	}
	if root.Kind != 0 {
		indexLines(&root, "", v.lines)
		d := yaml.NewDecoder(bytes.NewReader(data))
		d.KnownFields(true)
		if err := d.Decode(c); err != nil {
			v.yamlError(err)
		}
	}
	applyEnv(reflect.ValueOf(c).Elem(), nil, lookup, v)
	v.resolveSecrets(c, lookup)
	if file != "" && c.Node.DataDir != "" && !filepath.IsAbs(c.Node.DataDir) {
		c.Node.DataDir = filepath.Join(filepath.Dir(file), c.Node.DataDir)
	}
	v.validate(c)
	if err := v.err(); err != nil {
		return nil, err
	}
	return c, nil
}

type pos struct{ line, col int }

// indexLines records the line of every key path in the document, so semantic
// problems found after decoding still point at the right line.
func indexLines(n *yaml.Node, path string, out map[string]pos) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			indexLines(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			out[p] = pos{k.Line, k.Column}
			indexLines(val, p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			out[p] = pos{c.Line, c.Column}
			indexLines(c, p, out)
		}
	}
}

// validator gathers problems.
type validator struct {
	file     string
	lines    map[string]pos
	problems []Problem
	envSet   map[string]string // path -> variable that set it
}

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	return &Error{Problems: v.problems}
}

// add records a problem at path, located by the line index, or at the
// environment variable that set the value.
func (v *validator) add(path, format string, a ...any) {
	p := Problem{File: v.file, Path: path, Reason: fmt.Sprintf(format, a...)}
	if env, ok := v.envSet[path]; ok {
		p.File = "$" + env
	} else {
		// The nearest located ancestor: a missing key is reported at its section.
		for q := path; q != ""; q = parent(q) {
			if l, ok := v.lines[q]; ok {
				p.Line, p.Column = l.line, l.col
				break
			}
		}
	}
	v.problems = append(v.problems, p)
}

func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns yaml.v3 errors ("line 12: field foo not found in type
// config.Queue") into located problems.
func (v *validator) yamlError(err error) {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	for _, m := range msgs {
		p := Problem{File: v.file, Reason: m}
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			p.Line, _ = strconv.Atoi(sm[1])
			p.Reason = friendlier(sm[2])
			if strings.HasSuffix(sm[2], " into config.Config") {
				p.Reason = "the file must be a mapping of sections such as pacs: and queue: (see node.example.yaml)"
			} else {
				p.Path, p.Column = v.keyAt(p.Line)
			}
		}
		v.problems = append(v.problems, p)
	}
}

// keyAt returns the key path that starts line (yaml.v3 errors give only the
// line) and its column: the outermost key on the line, and of several at
// that column (a list item "- name: x") the deepest. "" when the line holds
// no key, e.g. inside a syntax error.
func (v *validator) keyAt(line int) (string, int) {
	best, col := "", 0
	for path, at := range v.lines {
		if at.line != line {
			continue
		}
		if best == "" || at.col < col || (at.col == col && (len(path) > len(best) || (len(path) == len(best) && path < best))) {
			best, col = path, at.col
		}
	}
	return best, col
}

var notFound = regexp.MustCompile(`^field (\S+) not found in type config\.(\S+)$`)

// cannotUnmarshal is yaml.v3's wrong-type message, e.g.
// "cannot unmarshal !!str `many` into int".
var cannotUnmarshal = regexp.MustCompile("^cannot unmarshal !!\\w+ (`.*`|) ?into (\\S+)$")

// expected names what a Go type of the configuration takes, for people.
var expected = map[string]string{
	"int":             "an integer",
	"int64":           "an integer",
	"float64":         "a number",
	"bool":            "true or false",
	"string":          "a string",
	"time.Duration":   "a duration such as 30s, 2m or 24h",
	"[]time.Duration": "a list of durations such as [30s, 2m]",
	"[]string":        "a list such as [a, b]",
}

func friendlier(m string) string {
	if sm := notFound.FindStringSubmatch(m); sm != nil {
		return fmt.Sprintf("unknown key %q (in %s; see node.example.yaml for the keys)", sm[1], strings.ToLower(sm[2]))
	}
	if sm := cannotUnmarshal.FindStringSubmatch(m); sm != nil {
		what, ok := expected[sm[2]]
		if !ok {
			return m
		}
		if sm[1] == "" {
			return "must be " + what
		}
		return fmt.Sprintf("%s is not %s", sm[1], what)
	}
	return m
}

var durationType = reflect.TypeOf(time.Duration(0))
var secretType = reflect.TypeOf(Secret{})

// applyEnv walks the configuration and overrides each scalar leaf from
// MHPNET_<PATH>, the path's yaml keys upper-cased and joined by "_"
// (MHPNET_PACS_URL, MHPNET_INTAKE_WEBHOOK_TOKEN). Lists are comma-separated.
// Lists of structures (routing.rules) are not overridable.
func applyEnv(val reflect.Value, path []string, lookup func(string) (string, bool), v *validator) {
	t := val.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		p := append(append([]string(nil), path...), tag)
		fv := val.Field(i)
		name := EnvPrefix + strings.ToUpper(strings.Join(p, "_"))
		dotted := strings.Join(p, ".")
		if f.Type == secretType {
			if s, ok := lookup(name); ok && s != "" {
				sec := fv.Addr().Interface().(*Secret)
				*sec = Secret{value: s, origin: "env " + name}
			}
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			applyEnv(fv, p, lookup, v)
			continue
		}
		s, ok := lookup(name)
		if !ok {
			continue
		}
		if v.envSet == nil {
			v.envSet = map[string]string{}
		}
		v.envSet[dotted] = name
		if err := setScalar(fv, s); err != nil {
			v.add(dotted, "%v", err)
		}
	}
}

func setScalar(fv reflect.Value, s string) error {
	switch {
	case fv.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 30s, 5m, 2h)", s)
		}
		fv.SetInt(int64(d))
		return nil
	case fv.Kind() == reflect.Slice && fv.Type().Elem() == durationType:
		var ds []time.Duration
		for _, part := range splitList(s) {
			d, err := time.ParseDuration(part)
			if err != nil {
				return fmt.Errorf("%q is not a duration (e.g. 30s, 5m, 2h)", part)
			}
			ds = append(ds, d)
		}
		fv.Set(reflect.ValueOf(ds))
		return nil
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		fv.SetInt(n)
	case reflect.Slice:
		if fv.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("cannot be set from the environment")
		}
		fv.Set(reflect.ValueOf(splitList(s)))
	case reflect.Pointer:
		return fmt.Errorf("cannot be set from the environment")
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// resolveSecrets reads every secret from its file or variable.
func (v *validator) resolveSecrets(c *Config, lookup func(string) (string, bool)) {
	secrets := c.secrets()
	for _, path := range slices.Sorted(maps.Keys(secrets)) { // problems in a stable order
		if err := secrets[path].resolve(lookup); err != nil {
			v.add(path, "%v", err)
		}
	}
}

// secrets lists every secret by key path.
func (c *Config) secrets() map[string]*Secret {
	return map[string]*Secret{
		"pacs.auth.password":         &c.PACS.Auth.Password,
		"pacs.auth.token":            &c.PACS.Auth.Token,
		"nats.token":                 &c.NATS.Token,
		"intake.webhook.token":       &c.Intake.Webhook.Token,
		"intake.webhook.hmac_secret": &c.Intake.Webhook.HMACSecret,
	}
}

// Masked returns the effective configuration as YAML with every secret
// masked, for printing at start-up.
func (c *Config) Masked() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("printing configuration: %w", err)
	}
	return buf.Bytes(), nil
}
