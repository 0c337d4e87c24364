#!/bin/sh
# demo.sh - the main job on real data, end to end, on this machine:
#   1. start a local Orthanc (DICOMweb plugin, Lua webhook to the node),
#   2. start `node serve` (embedded NATS, embedded MHP-Net model),
#   3. upload the real CT study CRLM-CT-1004 (41 slices) to Orthanc,
#   4. wait for the node's SEG to appear in Orthanc, showing progress,
#   5. print what was found and where to see it; then stop everything.
# Run through `make demo` (which installs what is missing and builds bin/node).
# DEMO_KEEP=1 keeps Orthanc and the node running at the end (Ctrl-C stops them).
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd -P)
cd "$root"
node_bin="$root/bin/node"
study_dir="$root/.testdata/ct/crlm-ct-1004"
[ -x "$node_bin" ] || { echo "demo: $node_bin missing; run 'make demo'" >&2; exit 2; }
[ -d "$study_dir" ] || { echo "demo: $study_dir missing; run 'make setup'" >&2; exit 2; }
command -v Orthanc >/dev/null || { echo "demo: Orthanc missing; run 'make setup'" >&2; exit 2; }

work="$root/.demo"
rm -rf "$work"
mkdir -p "$work/orthanc-db" "$work/node-data"

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
orthanc_port=$(free_port)
node_port=$(free_port)
nats_port=$(free_port)
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

step() { printf '\n== %s\n' "$*"; }

wait_http() { # URL what seconds
	i=0
	until curl -fsS -o /dev/null "$1" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -le $(($3 * 5)) ] || { echo "demo: $2 did not answer at $1 within $3 s" >&2; return 1; }
		sleep 0.2
	done
}

step "Starting Orthanc (DICOMweb on http://127.0.0.1:$orthanc_port/dicom-web/, Lua webhook to the node)"
cat >"$work/orthanc.json" <<JSON
{
  "Name": "mhpnet-demo",
  "StorageDirectory": "$work/orthanc-db",
  "IndexDirectory": "$work/orthanc-db",
  "HttpPort": $orthanc_port,
  "DicomServerEnabled": false,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "StableAge": 2,
  "LuaScripts": ["$root/deploy/orthanc/mhpnet-webhook.lua"],
  "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
  "DicomWeb": {"Enable": true, "Root": "/dicom-web/", "EnableWado": false, "Ssl": false}
}
JSON
MHPNET_WEBHOOK_URL="http://127.0.0.1:$node_port/v1/events/study" MHPNET_WEBHOOK_TOKEN="$token" MHPNET_SOURCE=orthanc \
	Orthanc "$work/orthanc.json" >"$work/orthanc.log" 2>&1 &
pids="$pids $!"
wait_http "http://127.0.0.1:$orthanc_port/system" Orthanc 30

step "Starting the node (embedded NATS, embedded MHP-Net model); log in .demo/node.log"
cat >"$work/node.yaml" <<YAML
node: {name: demo, data_dir: "$work/node-data", log_format: json}
http: {listen: "127.0.0.1:$node_port"}
pacs: {name: orthanc, url: "http://127.0.0.1:$orthanc_port/dicom-web"}
nats: {embedded: {listen: "127.0.0.1:$nats_port"}}
queue: {backoff: [5s, 30s]}
intake:
  webhook: {enabled: true, token: {env: DEMO_WEBHOOK_TOKEN}}
routing:
  rules:
    - name: contrast-ct
      action: process
      match:
        modality: [CT]
        image_type: {excludes: [LOCALIZER]}
        contrast_bolus_agent: present
        slice_thickness: {min: 0.5, max: 5}
        number_of_slices: {min: 20}
YAML
DEMO_WEBHOOK_TOKEN="$token" "$node_bin" serve --config "$work/node.yaml" >"$work/node.log" 2>&1 &
pids="$pids $!"
wait_http "http://127.0.0.1:$node_port/readyz" "the node" 60 || { tail -20 "$work/node.log" >&2; exit 1; }

step "Uploading CRLM-CT-1004 (TCIA Colorectal-Liver-Metastases, 41 slices of 5 mm) to Orthanc"
n=0
total=$(ls "$study_dir" | wc -l)
for f in "$study_dir"/*; do
	curl -fsS -o /dev/null -X POST -H 'Content-Type: application/dicom' --data-binary "@$f" "http://127.0.0.1:$orthanc_port/instances"
	n=$((n + 1))
	printf '\r  %d/%d instances' "$n" "$total"
done
echo
study_uid=$("$node_bin" inspect --json --no-hu "$study_dir" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["series"][0]["study_instance_uid"])')

step "Waiting for Orthanc to call the node (study stable after 2 s), then for the SEG"
start=$(date +%s)
seg=""
while :; do
	seg=$(curl -fsS "http://127.0.0.1:$orthanc_port/dicom-web/studies/$study_uid/series?Modality=SEG" 2>/dev/null |
		/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[0]["0020000E"]["Value"][0] if d else "")' 2>/dev/null || true)
	[ -n "$seg" ] && break
	el=$(($(date +%s) - start))
	stage=$(grep -o '"msg":"[^"]*"' "$work/node.log" | tail -1 | cut -d'"' -f4)
	printf '\r  %3d s  node: %-60s' "$el" "$stage"
	if [ "$el" -gt 300 ]; then
		echo
		echo "demo: no SEG after 300 s; the node's log says:" >&2
		tail -20 "$work/node.log" >&2
		DEMO_WEBHOOK_TOKEN="$token" "$node_bin" jobs list --config "$work/node.yaml" >&2 || true
		exit 1
	fi
	sleep 1
done
printf '\r  SEG stored after %d s%60s\n' "$(($(date +%s) - start))" ""

step "What the node found"
# The result event is published right after the STOW; give it a moment.
i=0
until DEMO_WEBHOOK_TOKEN="$token" "$node_bin" jobs results --config "$work/node.yaml" --study "$study_uid" 2>/dev/null | grep -q '^.*  ok  '; do
	i=$((i + 1)); [ "$i" -le 20 ] || break; sleep 0.5
done
DEMO_WEBHOOK_TOKEN="$token" "$node_bin" jobs results --config "$work/node.yaml" --study "$study_uid"

step "Where to see it"
echo "  SEG series $seg"
echo "  in Orthanc: http://127.0.0.1:$orthanc_port/app/explorer.html (study CT CH/ABD/PEL W/ CONTRAST)"
echo "  DICOMweb:   http://127.0.0.1:$orthanc_port/dicom-web/studies/$study_uid/series/$seg"
echo "  (open it in OHIF as integration/viewer does; a screenshot of a node SEG in OHIF is docs/img/ohif-seg.png)"
if [ "${DEMO_KEEP:-0}" = 1 ]; then
	echo "  DEMO_KEEP=1: Orthanc and the node keep running; Ctrl-C stops them."
	wait
fi
