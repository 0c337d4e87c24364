package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mhpnet/node/pipeline/rules"
	"gopkg.in/yaml.v3"
)

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

const minimal = `
pacs:
  url: http://orthanc:8042/dicom-web
`

func TestParseDefaults(t *testing.T) {
	c, err := Parse("/etc/mhpnet/node.yaml", []byte(minimal), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Queue.MaxDeliver != 5 || c.Queue.AckWait != time.Minute || c.Queue.DefaultPriority != "normal" {
		t.Errorf("queue defaults: %+v", c.Queue)
	}
	if want := "/etc/mhpnet/data"; c.Node.DataDir != want {
		t.Errorf("data_dir = %q, want %q (relative to the file)", c.Node.DataDir, want)
	}
	if !c.Intake.NATS.Enabled || c.Intake.Webhook.Enabled || c.Intake.Poller.Enabled {
		t.Errorf("intake defaults: %+v", c.Intake)
	}
	if c.Rules == nil || c.Rules.Default != rules.Skip || c.Rules.Selection.Mode != rules.SelectOne {
		t.Errorf("rules defaults: %+v", c.Rules)
	}
}

func TestParseEnvOverrides(t *testing.T) {
	c, err := Parse("node.yaml", []byte(minimal), env(map[string]string{
		"MHPNET_PACS_URL":               "https://pacs.example.org/dicomweb",
		"MHPNET_QUEUE_CONCURRENCY":      "3",
		"MHPNET_QUEUE_BACKOFF":          "1s, 5s",
		"MHPNET_INTAKE_POLLER_ENABLED":  "true",
		"MHPNET_QUEUE_PRIORITIES":       "urgent,normal",
		"MHPNET_INTAKE_WEBHOOK_TOKEN":   "0123456789abcdef-token",
		"MHPNET_INTAKE_WEBHOOK_ENABLED": "1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.PACS.URL, c.Queue.Concurrency, c.Queue.Backoff, c.Intake.Poller.Enabled, c.Queue.Priorities, c.Intake.Webhook.Token.Value()}
	want := []any{"https://pacs.example.org/dicomweb", 3, []time.Duration{time.Second, 5 * time.Second}, true, []string{"urgent", "normal"}, "0123456789abcdef-token"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte("file-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := minimal + `
intake:
  webhook:
    enabled: true
    token: {file: ` + tokFile + `}
    hmac_secret: {env: HOOK_HMAC}
`
	c, err := Parse("node.yaml", []byte(doc), env(map[string]string{"HOOK_HMAC": "env-secret-abcdefghijkl"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Intake.Webhook.Token.Value() != "file-secret-0123456789" || c.Intake.Webhook.HMACSecret.Value() != "env-secret-abcdefghijkl" {
		t.Fatalf("secrets: %q %q", c.Intake.Webhook.Token.Value(), c.Intake.Webhook.HMACSecret.Value())
	}
	out, err := c.Masked()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"file-secret", "env-secret"} {
		if strings.Contains(string(out), s) {
			t.Errorf("printed configuration leaks %q:\n%s", s, out)
		}
	}
	if !strings.Contains(string(out), "token: '***** (from file "+tokFile+")'") {
		t.Errorf("printed configuration lacks the masked token:\n%s", out)
	}
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // each problem as file:line: path: reason prefix
	}{
		{"inline secret refused", minimal + `
intake:
  webhook:
    enabled: true
    token: hunter2hunter2hunter2
`, []string{"node.yaml:8:5: intake.webhook.token: secrets are not written in the file", "node.yaml:6:3: intake.webhook: enabled without a secret"}},
		{"unknown key", minimal + `
queue:
  concurency: 2
`, []string{`node.yaml:6:3: queue.concurency: unknown key "concurency" (in queue; see node.example.yaml for the keys)`}},
		{"bad regex, bad range, bad action, unknown priority, duplicate name, all at once", minimal + `
routing:
  rules:
    - name: a
      action: process
      match:
        series_description: "(portal"
    - name: a
      action: maybe
      priority: urgent
      match:
        slice_thickness: {min: 5, max: 1}
        contrast_bolus_agent: sometimes
`, []string{
			"node.yaml:10:9: routing.rules[0].match.series_description: regular expression \"(portal\": error parsing regexp: missing closing ): `(portal`",
			`node.yaml:11:7: routing.rules[1].name: rule name "a" is already used by routing.rules[0]`,
			`node.yaml:12:7: routing.rules[1].action: action "maybe" is not one of process, skip`,
			`node.yaml:13:7: routing.rules[1].priority: "urgent" is not in queue.priorities [high normal low]`,
			`node.yaml:16:9: routing.rules[1].match.contrast_bolus_agent: "sometimes" is not one of present, absent, any`,
			"node.yaml:15:9: routing.rules[1].match.slice_thickness: min 5 is greater than max 1",
		}},
		{"missing pacs url", `node: {log_format: xml}`, []string{
			`node.yaml:1:8: node.log_format: "xml" is not one of json, console`,
			"node.yaml: pacs.url: required",
		}},
		{"wrong type", minimal + `
queue:
  max_deliver: lots
`, []string{"node.yaml:6:3: queue.max_deliver: `lots` is not an integer"}},
		{"wrong types located and explained", minimal + `
queue:
  concurrency: many
  backoff: 5
  ack_wait: forever
  priorities: {a: 1}
intake:
  poller:
    enabled: perhaps
`, []string{
			"node.yaml:6:3: queue.concurrency: `many` is not an integer",
			"node.yaml:7:3: queue.backoff: `5` is not a list of durations such as [30s, 2m]",
			"node.yaml:8:3: queue.ack_wait: `forever` is not a duration such as 30s, 2m or 24h",
			"node.yaml:9:3: queue.priorities: must be a list such as [a, b]",
			"node.yaml:12:5: intake.poller.enabled: `perhaps` is not true or false",
		}},
		{"wrong type in a list item", minimal + `
routing:
  rules:
    - name: a
      action: process
      match:
        slice_thickness: {min: thin}
`, []string{"node.yaml:10:9: routing.rules[0].match.slice_thickness: `thin` is not a number"}},
		{"unreadable secrets reported once each", minimal + `  auth:
    type: bearer
    token: {file: /nonexistent/pacs-token}
intake:
  webhook:
    enabled: true
    token: {env: MHPNET_TEST_UNSET_TOKEN}
`, []string{
			"node.yaml:6:5: pacs.auth.token: reading secret file: open /nonexistent/pacs-token: no such file or directory",
			"node.yaml:10:5: intake.webhook.token: environment variable MHPNET_TEST_UNSET_TOKEN is not set or empty",
		}},
		{"port out of range", minimal + `
http:
  listen: 127.0.0.1:80800
nats:
  embedded:
    listen: 127.0.0.1:99999
`, []string{
			`node.yaml:6:3: http.listen: "127.0.0.1:80800": port 80800 is not between 0 and 65535`,
			`node.yaml:9:5: nats.embedded.listen: "127.0.0.1:99999": port 99999 is not between 0 and 65535`,
		}},
		{"not a mapping", "- a\n- b\n", []string{
			"node.yaml:1: the file must be a mapping of sections such as pacs: and queue:",
			"node.yaml: pacs.url: required",
		}},
		{"syntax error stops", "pacs: [\n", []string{"node.yaml:1: did not find expected node content"}},
		{"env override checked", minimal, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("node.yaml", []byte(tc.doc), env(nil))
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err %T is not *Error", err)
			}
			var got []string
			for _, p := range ce.Problems {
				got = append(got, p.String())
			}
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					found = found || strings.HasPrefix(g, w)
				}
				if !found {
					t.Errorf("no problem starting with\n  %s\ngot\n  %s", w, strings.Join(got, "\n  "))
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %d problems, want %d:\n  %s", len(got), len(tc.want), strings.Join(got, "\n  "))
			}
		})
	}
}

func TestEnvProblemNamesVariable(t *testing.T) {
	_, err := Parse("node.yaml", []byte(minimal), env(map[string]string{"MHPNET_QUEUE_ACK_WAIT": "soon"}))
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Problems) != 1 {
		t.Fatalf("err = %v", err)
	}
	if got, want := ce.Problems[0].String(), `$MHPNET_QUEUE_ACK_WAIT: queue.ack_wait: "soon" is not a duration (e.g. 30s, 5m, 2h)`; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestExample proves that node.example.yaml is valid and documents every key
// of Config.
func TestExample(t *testing.T) {
	data, err := os.ReadFile("../node.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("node.example.yaml", data, env(map[string]string{"WEBHOOK_TOKEN": "example-token-0123456789"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules.Rules) != 3 || c.Rules.Rules[1].Name != "liver-ct-contrast" {
		t.Errorf("rules: %+v", c.Rules.Rules)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	lines := map[string]pos{}
	indexLines(&root, "", lines)
	documented := map[string]bool{}
	for p := range lines {
		documented[stripIndex(p)] = true
	}
	for _, key := range keys(reflect.TypeOf(Config{}), "") {
		if !documented[key] {
			t.Errorf("node.example.yaml does not document %s", key)
		}
	}
}

func stripIndex(p string) string {
	for {
		i := strings.Index(p, "[")
		if i < 0 {
			return p
		}
		j := strings.Index(p[i:], "]")
		p = p[:i] + p[i+j+1:]
	}
}

// keys lists every yaml key path of t.
func keys(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		p := tag
		if prefix != "" {
			p = prefix + "." + tag
		}
		out = append(out, p)
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != secretType && ft != durationType {
			out = append(out, keys(ft, p)...)
		}
	}
	return out
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	if data, err := os.ReadFile("../node.example.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("routing: {rules: [{name: x, action: process, match: {slice_thickness: {min: 1}}}]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data, env(nil))
		if err == nil && c.Rules == nil {
			t.Fatal("nil rules without error")
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error not ErrInvalid: %v", err)
		}
	})
}
