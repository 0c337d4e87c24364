package pipeline

import "time"

// Outcome of a job or a routing decision.
const (
	OutcomeOK      = "ok"
	OutcomeFailed  = "failed"
	OutcomeSkipped = "skipped"
)

// Stage names a step of a job; used in timings, metrics and errors.
type Stage string

// Stages of a job, in order.
const (
	StageCheck   Stage = "check"   // QIDO: is there already a SEG of this model version?
	StageFetch   Stage = "fetch"   // WADO-RS, then the CT volume in HU
	StageSegment Stage = "segment" // MHP-Net and measurements
	StageEncode  Stage = "encode"  // DICOM SEG
	StageStore   Stage = "store"   // STOW-RS
	StagePublish Stage = "publish" // result event
)

// Measurements are what MHP-Net found, in patient coordinates (LPS, mm).
type Measurements struct {
	// LiverVolumeML is the liver volume in millilitres (tumors included).
	LiverVolumeML float64 `json:"liver_volume_ml"`
	// Tumors lists each connected tumor.
	Tumors []Tumor `json:"tumors"`
	// Flags name plausibility checks the result failed; a flagged result
	// is stored but must be looked at.
	Flags []string `json:"flags,omitempty"`
}

// Tumor is one connected tumor region.
type Tumor struct {
	VolumeML float64 `json:"volume_ml"`
	// DiameterMM is the largest in-plane (axial) diameter, as RECIST measures.
	DiameterMM float64 `json:"diameter_mm"`
	// CentroidLPS is the centre of mass in patient coordinates (mm).
	CentroidLPS [3]float64 `json:"centroid_lps_mm"`
}

// SEGRef names a stored segmentation.
type SEGRef struct {
	SeriesInstanceUID string `json:"SeriesInstanceUID"`
	SOPInstanceUID    string `json:"SOPInstanceUID,omitempty"`
}

// Result is the event published on seg.results.ok, .failed or .skipped.
type Result struct {
	Outcome           string `json:"outcome"`
	JobID             string `json:"job_id,omitempty"`
	Node              string `json:"node,omitempty"`
	Source            string `json:"source,omitempty"`
	StudyInstanceUID  string `json:"StudyInstanceUID"`
	SeriesInstanceUID string `json:"SeriesInstanceUID,omitempty"`
	ModelVersion      string `json:"model_version,omitempty"`
	Rule              string `json:"rule,omitempty"`
	// Reason says why a series was skipped or a job failed.
	Reason string `json:"reason,omitempty"`
	// Stage is the failed stage.
	Stage Stage `json:"stage,omitempty"`
	// Attempt is the delivery that produced this result.
	Attempt int `json:"attempt,omitempty"`
	// SEG is the stored segmentation (ok), or the one already in the PACS
	// (skipped as done before).
	SEG          *SEGRef       `json:"seg,omitempty"`
	Measurements *Measurements `json:"measurements,omitempty"`
	// Instances is the number of source slices.
	Instances int `json:"instances,omitempty"`
	// Timings holds seconds per stage, and "total".
	Timings map[string]float64 `json:"timings_s,omitempty"`
	Time    time.Time          `json:"time"`
}
