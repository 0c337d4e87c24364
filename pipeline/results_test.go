package pipeline

import (
	"context"
	"testing"
	"time"
)

func TestQueueResultsFiltersByStudy(t *testing.T) {
	b := startBus(t, t.TempDir())
	q := newQueue(t, b, testQueueOptions())
	ctx := context.Background()
	published := []Result{
		{Outcome: OutcomeOK, StudyInstanceUID: "1.2.3", SeriesInstanceUID: "1.2.3.1",
			Measurements: &Measurements{LiverVolumeML: 1500, Tumors: []Tumor{{VolumeML: 12.5, DiameterMM: 31}}}},
		{Outcome: OutcomeSkipped, StudyInstanceUID: "1.2.4", SeriesInstanceUID: "1.2.4.1", Reason: "no rule matched"},
		{Outcome: OutcomeFailed, StudyInstanceUID: "1.2.3", SeriesInstanceUID: "1.2.3.2", Reason: "missing slices"},
	}
	for _, r := range published {
		r.Time = time.Now()
		if err := q.publishResult(ctx, r); err != nil {
			t.Fatalf("publishResult: %v", err)
		}
	}
	tests := []struct {
		name        string
		study       string
		wantSeries  []string
		wantLiverML float64
	}{
		{"all", "", []string{"1.2.3.1", "1.2.4.1", "1.2.3.2"}, 1500},
		{"one study", "1.2.3", []string{"1.2.3.1", "1.2.3.2"}, 1500},
		{"other study", "1.2.4", []string{"1.2.4.1"}, 0},
		{"unknown study", "9.9", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := q.Results(ctx, tc.study, 100)
			if err != nil {
				t.Fatalf("Results: %v", err)
			}
			var got []string
			liver := 0.0
			for _, r := range rs {
				got = append(got, r.SeriesInstanceUID)
				if r.Measurements != nil {
					liver = r.Measurements.LiverVolumeML
				}
			}
			if len(got) != len(tc.wantSeries) {
				t.Fatalf("series %v, want %v", got, tc.wantSeries)
			}
			for i := range got {
				if got[i] != tc.wantSeries[i] {
					t.Fatalf("series %v, want %v", got, tc.wantSeries)
				}
			}
			if liver != tc.wantLiverML {
				t.Errorf("liver volume %v mL, want %v", liver, tc.wantLiverML)
			}
		})
	}
}
