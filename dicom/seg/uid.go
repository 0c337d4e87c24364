package seg

import (
	"math/big"

	"github.com/google/uuid"
)

// Identity of this project in File Meta Information (PS3.10 7.1).
const (
	// ImplementationClassUID identifies the node's DICOM writer: 2.25 + the
	// decimal value of a UUID drawn once for this project.
	ImplementationClassUID = "2.25.50037644271085815913379388212406774345"
	// ImplementationVersionName names the writer's version (SH, at most 16).
	ImplementationVersionName = "MHPNET_NODE_1"
)

// DerivedUID returns "2.25." + the decimal value of the name-based UUID
// (version 5, SHA-1) of (sourceSeriesUID, modelVersion, kind), as PS3.5
// B.2 allows. The same inputs always give the same UID, so reprocessing a
// series with the same model yields the same SEG series and instance and
// the PACS keeps one copy. kind is "series", "instance" or another role
// ("dimension-organization", "frame-of-reference").
func DerivedUID(sourceSeriesUID, modelVersion, kind string) string {
	// NUL separators keep ("a", "bc") and ("ab", "c") apart; UIDs and
	// versions never contain NUL.
	name := sourceSeriesUID + "\x00" + modelVersion + "\x00" + kind
	// The namespace is the UUIDv5 of the implementation class UID in the
	// OID namespace, so the UIDs are the node's own.
	ns := uuid.NewSHA1(uuid.NameSpaceOID, []byte(ImplementationClassUID))
	u := uuid.NewSHA1(ns, []byte(name))
	return "2.25." + new(big.Int).SetBytes(u[:]).String()
}
