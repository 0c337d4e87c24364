#!/bin/sh
# setup.sh - install what the build, the tests and the demo need, only when
# it is missing, and unpack the shared CT data. Idempotent; fast the second time.
#
#   scripts/setup.sh            Debian packages + npm packages + data
#   SKIP_APT=1 scripts/setup.sh skip the Debian step (e.g. no root)
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd -P)
root=$(dirname "$here")
cd "$root"

# 1. Debian packages.
if [ "${SKIP_APT:-0}" != 1 ]; then
	missing=""
	for p in $(sed -e 's/#.*//' "$here/debian-packages.txt"); do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "setup: installing Debian packages:$missing"
		sudo=""
		[ "$(id -u)" = 0 ] || sudo="sudo"
		$sudo apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
		# Debian starts an Orthanc service on install; the node and the tests
		# run their own instances, so stop the system one where a service
		# manager exists (harmless when it does not).
		$sudo service orthanc stop >/dev/null 2>&1 || true
	else
		echo "setup: Debian packages present"
	fi
fi

# 2. npm packages (dcmjs for the SEG read-back; OHIF and playwright-core for
#    the viewer test): every integration/*/package.json, from its lock file.
for pj in integration/*/package.json; do
	[ -f "$pj" ] || continue
	d=$(dirname "$pj")
	if [ ! -d "$d/node_modules" ] || [ "$d/package-lock.json" -nt "$d/node_modules" ]; then
		echo "setup: installing npm packages in $d"
		(cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
		touch "$d/node_modules"
	else
		echo "setup: npm packages present in $d"
	fi
done

# 3. The real CT data, unpacked beside the project (git-ignored).
shared="${SHARED_DIR:-$root/../shared}"
if [ ! -x "$shared/data/unpack.sh" ] && [ ! -f "$shared/data/unpack.sh" ]; then
	echo "setup: $shared/data/unpack.sh not found; put the shared folder beside the project or set SHARED_DIR" >&2
	exit 2
fi
sh "$shared/data/unpack.sh" "$root/.testdata"
