// Package testdata locates the real data the tests read: the unpacked CT
// archives (MHPNET_TESTDATA, default <repo>/.testdata) and the small files of
// the shared folder (SHARED_DIR, default <repo>/../shared). Data is never
// copied into the repository; its licences forbid redistribution.
package testdata

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// RepoRoot returns the repository's root folder.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// UnpackedDir is the folder holding the unpacked CT archives.
func UnpackedDir() string {
	if d := os.Getenv("MHPNET_TESTDATA"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), ".testdata")
}

// SharedDir is the shared folder (docs and data) beside the repository.
func SharedDir() string {
	if d := os.Getenv("SHARED_DIR"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "..", "shared")
}

// CT returns the path of rel under the unpacked CT data (e.g.
// "ircadb/3Dircadb1.1/PATIENT_DICOM") and fails the test with the command to
// run when it is missing.
func CT(tb testing.TB, rel string) string {
	tb.Helper()
	return mustExist(tb, filepath.Join(UnpackedDir(), rel), "run scripts/setup.sh (or make setup) to unpack the shared CT archives")
}

// Shared returns the path of rel under the shared folder (e.g.
// "data/dcmqi/ct-3slice") and fails the test when it is missing.
func Shared(tb testing.TB, rel string) string {
	tb.Helper()
	return mustExist(tb, filepath.Join(SharedDir(), rel), "put the shared folder beside the repository or set SHARED_DIR")
}

func mustExist(tb testing.TB, p, hint string) string {
	tb.Helper()
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("test data %s: %v; %s", p, err, hint)
	}
	return p
}
