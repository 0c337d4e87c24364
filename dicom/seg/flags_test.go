package seg

import "testing"

func TestOptionsWithFlags(t *testing.T) {
	tests := []struct {
		name        string
		flags       []string
		wantSeries  string
		wantContent string
	}{
		{"no flags", nil, "", ""},
		{"one flag", []string{"implausible-liver-volume"}, FlaggedSeriesDescription, "CHECK: implausible-liver-volume"},
		{"clipped to LO", []string{"implausible-liver-volume", "liver-not-right-sided", "implausible-tumor-burden"},
			FlaggedSeriesDescription, "CHECK: implausible-liver-volume,liver-not-right-sided,implaus..."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{ModelVersion: "m1"}.WithFlags(tc.flags)
			if o.SeriesDescription != tc.wantSeries || o.ContentDescription != tc.wantContent {
				t.Errorf("got %q / %q, want %q / %q", o.SeriesDescription, o.ContentDescription, tc.wantSeries, tc.wantContent)
			}
			if len(o.ContentDescription) > 64 {
				t.Errorf("ContentDescription has %d characters, LO allows 64", len(o.ContentDescription))
			}
		})
	}
}
