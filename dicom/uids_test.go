package dicom

import "testing"

func TestUIDNames(t *testing.T) {
	tests := []struct {
		uid, ts, class string
		ct, multi, sc  bool
	}{
		{uid: CTImageStorage, class: "CT Image Storage", ct: true},
		{uid: EnhancedCTImageStorage, class: "Enhanced CT Image Storage", ct: true, multi: true},
		{uid: LegacyConvertedEnhancedCTImageStorage, ct: true, multi: true},
		{uid: SecondaryCaptureImageStorage, class: "Secondary Capture Image Storage", sc: true},
		{uid: "1.2.840.10008.5.1.4.1.1.7.4", sc: true},
		{uid: "1.2.840.10008.1.2.4.91", ts: "JPEG 2000 Image Compression"},
		{uid: ExplicitVRBigEndian, ts: "Explicit VR Big Endian"},
		{uid: "1.2.3.4", ts: "unknown transfer syntax", class: "unknown SOP class"},
	}
	for _, tc := range tests {
		if tc.ts != "" && TransferSyntaxName(tc.uid) != tc.ts {
			t.Errorf("TransferSyntaxName(%s) = %q, want %q", tc.uid, TransferSyntaxName(tc.uid), tc.ts)
		}
		if tc.class != "" && SOPClassName(tc.uid) != tc.class {
			t.Errorf("SOPClassName(%s) = %q, want %q", tc.uid, SOPClassName(tc.uid), tc.class)
		}
		if isCTClass(tc.uid) != tc.ct || isMultiFrameCTClass(tc.uid) != tc.multi || isSecondaryCapture(tc.uid) != tc.sc {
			t.Errorf("%s: ct %v multi %v sc %v", tc.uid, isCTClass(tc.uid), isMultiFrameCTClass(tc.uid), isSecondaryCapture(tc.uid))
		}
	}
}
