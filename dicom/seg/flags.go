package seg

import "strings"

// FlaggedSeriesDescription is the SeriesDescription of a SEG whose result
// failed a plausibility gate: radiologists see it in the viewer's series
// list, so a flagged result is never mistaken for an ordinary one.
const FlaggedSeriesDescription = "MHP-Net liver and tumor - CHECK"

// WithFlags returns o with SeriesDescription and ContentDescription (both LO,
// at most 64 characters) naming the plausibility flags of the result; with
// no flags o is returned unchanged.
func (o Options) WithFlags(flags []string) Options {
	if len(flags) == 0 {
		return o
	}
	o.SeriesDescription = FlaggedSeriesDescription
	d := "CHECK: " + strings.Join(flags, ",")
	if len(d) > 64 {
		d = d[:61] + "..."
	}
	o.ContentDescription = d
	return o
}
