package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	godicom "github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/mhpnet/node/config"
	"github.com/mhpnet/node/dicom"
	"github.com/mhpnet/node/pipeline"
	"github.com/mhpnet/node/pipeline/rules"
	"github.com/mhpnet/node/pipeline/stages"
)

func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Check routing rules (dry run)",
	}
	cmd.AddCommand(newRulesCheckCmd())
	return cmd
}

type rulesCheckFlags struct {
	commonFlags
	study, dir, source string
	json               bool
}

func newRulesCheckCmd() *cobra.Command {
	var f rulesCheckFlags
	cmd := &cobra.Command{
		Use:   "check --config node.yaml [--study UID | --dir DIR]",
		Short: "Validate the rules and show, for every series, which rule matched and why",
		Long: `check loads node.yaml and reports every problem with file:line (exit 2).

With --study it lists the study's series in the PACS (QIDO-RS) and, with --dir,
the CT series found in a folder; for each series it prints whether it would be
processed, the rule that decided and why, and why each earlier rule did not
match. Nothing is queued or stored.`,
		Example: `  node rules check --config node.yaml
  node rules check --config node.yaml --study 1.2.840.113619.2.55.3
  node rules check --config node.yaml --dir .testdata/ct/crlm-ct-1004`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.study != "" && f.dir != "" {
				return usageErrorf("rules check: --study and --dir exclude each other")
			}
			if f.study != "" && !pipeline.ValidUID(f.study) {
				return usageErrorf("rules check: --study %q is not a DICOM UID", f.study)
			}
			return runRulesCheck(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&f.study, "study", "", "StudyInstanceUID to look up in the PACS")
	cmd.Flags().StringVar(&f.dir, "dir", "", "folder of DICOM files to evaluate")
	cmd.Flags().StringVar(&f.source, "source", "", "source PACS name to evaluate with (default: pacs.name)")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the decisions as JSON")
	return cmd
}

func runRulesCheck(ctx context.Context, w io.Writer, f rulesCheckFlags) error {
	cfg, err := loadConfig(f.config)
	if err != nil {
		return err
	}
	source := f.source
	if source == "" {
		source = cfg.PACS.Name
	}
	var studies map[string][]rules.Series
	var refused []string
	switch {
	case f.study != "":
		log, err := f.logger(cfg, io.Discard)
		if err != nil {
			return err
		}
		c, err := pacsClient(cfg, log)
		if err != nil {
			return err
		}
		series, err := stages.NewPACS(c, readerOptions()).ListSeries(ctx, source, f.study)
		if err != nil {
			return withCode(ExitUnavailable, err)
		}
		studies = map[string][]rules.Series{f.study: series}
	case f.dir != "":
		studies, refused, err = seriesFromDir(ctx, f.dir, source)
		if err != nil {
			return err
		}
	default:
		fmt.Fprintf(w, "%s: %d rules, default action %s, selection %s %v: OK\n", cfg.File, len(cfg.Rules.Rules),
			cfg.Rules.Default, cfg.Rules.Selection.Mode, cfg.Rules.Selection.Prefer)
		for i, r := range cfg.Routing.Rules {
			fmt.Fprintf(w, "  %d. %s -> %s\n", i+1, r.Name, r.Action)
		}
		return nil
	}
	return printDecisions(w, cfg, studies, refused, f.json)
}

func printDecisions(w io.Writer, cfg *config.Config, studies map[string][]rules.Series, refused []string, asJSON bool) error {
	uids := make([]string, 0, len(studies))
	for u := range studies {
		uids = append(uids, u)
	}
	sort.Strings(uids)
	type row struct {
		StudyInstanceUID  string   `json:"StudyInstanceUID"`
		SeriesInstanceUID string   `json:"SeriesInstanceUID"`
		SeriesNumber      int      `json:"SeriesNumber"`
		Modality          string   `json:"Modality"`
		SeriesDescription string   `json:"SeriesDescription"`
		Action            string   `json:"action"`
		Rule              string   `json:"rule,omitempty"`
		Reason            string   `json:"reason"`
		Trace             []string `json:"trace,omitempty"`
	}
	rows := []row{} // [] in JSON when every series was refused, not null
	for _, u := range uids {
		for _, d := range cfg.Rules.Evaluate(studies[u]) {
			rows = append(rows, row{u, d.Series.SeriesInstanceUID, d.Series.SeriesNumber, d.Series.Modality,
				d.Series.SeriesDescription, string(d.Action), d.Rule, d.Reason, d.Trace})
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if refused == nil {
			refused = []string{}
		}
		return enc.Encode(map[string]any{"decisions": rows, "refused": refused})
	}
	study := ""
	for _, r := range rows {
		if r.StudyInstanceUID != study {
			study = r.StudyInstanceUID
			fmt.Fprintf(w, "study %s\n", study)
		}
		fmt.Fprintf(w, "  series %s  #%d %s %q\n    %s: %s\n", r.SeriesInstanceUID, r.SeriesNumber, r.Modality, r.SeriesDescription,
			strings.ToUpper(r.Action), r.Reason)
		for _, t := range r.Trace {
			fmt.Fprintf(w, "      - %s\n", t)
		}
	}
	for _, r := range refused {
		fmt.Fprintf(w, "refused: %s\n", r)
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "no series found")
	}
	return nil
}

// seriesFromDir reads the CT series of a folder with their rule attributes;
// refused series are reported with their reason (they would fail as jobs).
func seriesFromDir(ctx context.Context, dir, source string) (map[string][]rules.Series, []string, error) {
	scan, err := dicom.ReadDir(ctx, dir, readerOptions())
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	out := map[string][]rules.Series{}
	for _, s := range scan.Series {
		rs := rulesSeries(s, source)
		out[s.StudyInstanceUID] = append(out[s.StudyInstanceUID], rs)
	}
	var refused []string
	for _, r := range scan.Refused {
		uid := ""
		if r.Series != nil {
			uid = r.Series.SeriesInstanceUID
		}
		refused = append(refused, fmt.Sprintf("series %s (%d objects): %v", uid, r.Objects, r.Err))
	}
	return out, refused, nil
}

// rulesSeries gives a series read from files the attributes rules look at.
func rulesSeries(s *dicom.Series, source string) rules.Series {
	rs := rules.Series{Source: source, StudyInstanceUID: s.StudyInstanceUID, SeriesInstanceUID: s.SeriesInstanceUID,
		SeriesNumber: s.SeriesNumber, Modality: s.Modality, SeriesDescription: s.SeriesDescription,
		SliceThickness: s.SliceThickness, NumberOfSlices: len(s.Instances)}
	if len(s.Instances) > 0 {
		in := s.Instances[0]
		rs.ImageType = in.ImageType
		rs.ImageOrientationPatient = in.ImageOrientationPatient[:]
		if rs.SliceThickness == 0 {
			rs.SliceThickness = in.SliceThickness
		}
	}
	if s.Header != nil {
		rs.BodyPartExamined = headerString(s.Header, tag.BodyPartExamined)
		rs.ProtocolName = headerString(s.Header, tag.ProtocolName)
		rs.Manufacturer = headerString(s.Header, tag.Manufacturer)
		rs.ContrastBolusAgent = headerString(s.Header, tag.ContrastBolusAgent)
	}
	return rs
}

func headerString(ds *godicom.Dataset, t tag.Tag) string {
	el, err := ds.FindElementByTag(t)
	if err != nil || el.Value == nil {
		return ""
	}
	if v, ok := el.Value.GetValue().([]string); ok {
		return strings.TrimSpace(strings.Join(v, `\`))
	}
	return ""
}
