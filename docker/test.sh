#!/usr/bin/env bash
# Builds docker/Dockerfile and runs the image and the compose devnet on a real Docker
# engine, then prints one line per check and "N passed, M failed"; exit 0 only if every
# check passed.
#
# The engine is the distribution's (docker.io, installed here if missing) started inside
# a network namespace of its own, so it never touches the host's network; no registry is
# reachable from it, so the Dockerfile's base images are replaced by local stand-ins: a
# Go toolchain image made from this machine's Go installation (with the module cache as
# an offline GOPROXY) and a runtime image made from scratch with a non-root user.
#
# Where no engine can be started (not root, no package, no namespace) the script says
# "skipped" and why, and exits 0, unless WITNET_P2P_DOCKER_REQUIRED=1 (as .ci/run sets:
# on CI's machines the engine must run), which makes a skip a failure.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
required=${WITNET_P2P_DOCKER_REQUIRED:-0}
ns=wp2p-docker-$$
work=$(mktemp -d /tmp/wpd.XXXXXX) # short: containerd's socket path lives under it
project=wp2ptest$$
passed=0
failed=0

skip() {
	echo "skipped: $*"
	[ -n "${dockerd_pid:-}" ] || rm -rf "$work" # otherwise the exit trap cleans up
	if [ "$required" = 1 ]; then
		echo "FAIL - the Docker engine is required here (WITNET_P2P_DOCKER_REQUIRED=1)"
		echo "0 passed, 1 failed"
		exit 1
	fi
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
}
t0=$(date +%s)
pass() { echo "ok - $* [$(($(date +%s) - t0)) s]"; passed=$((passed + 1)); }
fail() { echo "FAIL - $* [$(($(date +%s) - t0)) s]"; failed=$((failed + 1)); }

# --- the engine ---------------------------------------------------------------------
[ "$(id -u)" = 0 ] || skip "not root: dockerd and network namespaces need root"
command -v ip >/dev/null && command -v nsenter >/dev/null || skip "ip (iproute2) or nsenter (util-linux) missing"
if ! command -v dockerd >/dev/null || ! [ -x /usr/bin/docker ] || ! command -v docker-compose >/dev/null; then
	echo "installing docker.io and docker-compose from the distribution's packages"
	if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		docker.io docker-compose; } >"$work/apt.log" 2>&1; then
		tail -5 "$work/apt.log"
		skip "docker.io could not be installed"
	fi
fi
docker=/usr/bin/docker # the package's client, of the daemon's version
export DOCKER_HOST=unix://$work/docker.sock
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0 # the classic builder: no frontend image to pull

dockerd_pid=
cleanup() {
	if [ -n "$dockerd_pid" ]; then
		docker-compose -p "$project" -f "$work/ctx/docker/compose.yaml" down -v -t 5 >/dev/null 2>&1
		$docker rm -f wp2p-single >/dev/null 2>&1
		kill "$dockerd_pid" 2>/dev/null
		for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$dockerd_pid" 2>/dev/null
	fi
	ip netns del "$ns" 2>/dev/null
	rm -rf "$work" 2>/dev/null
}
trap cleanup EXIT

ip netns add "$ns" || skip "cannot create a network namespace"
nsenter --net=/var/run/netns/"$ns" ip link set lo up
# ip netns exec would remount /sys and hide the cgroups dockerd needs; nsenter enters
# only the network namespace.
nsenter --net=/var/run/netns/"$ns" dockerd --storage-driver=vfs \
	--data-root "$work/root" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
	-H "$DOCKER_HOST" >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 1 150); do
	$docker info >/dev/null 2>&1 && break
	kill -0 "$dockerd_pid" 2>/dev/null || break
	sleep 0.2
done
if ! $docker info >/dev/null 2>&1; then
	tail -5 "$work/dockerd.log"
	skip "dockerd did not start"
fi
echo "engine: Docker $($docker version -f '{{.Server.Version}}') in network namespace $ns"

# --- stand-in base images and the build context ---------------------------------------
go_image=wp2p-test/go:local
runtime_image=wp2p-test/runtime:local

# The modules the build needs, as a file GOPROXY: the module cache's download files.
modcache=$(cd "$root" && go env GOMODCACHE)
mkdir -p "$work/stage/goproxy" "$work/stage/tmp"
chmod 1777 "$work/stage/tmp"
(cd "$root" && go mod download -json) | sed -n 's/^\t"\(Info\|GoMod\|Zip\)": "\(.*\)",\{0,1\}$/\2/p' >"$work/files"
(cd "$modcache/cache/download" && find . -name '*.mod' -o -name '*.info') | sed "s|^\.|$modcache/cache/download|" >>"$work/files"
while read -r f; do
	rel=${f#"$modcache/cache/download/"}
	mkdir -p "$work/stage/goproxy/$(dirname "$rel")"
	cp "$f" "$work/stage/goproxy/$rel"
done <"$work/files"
goroot=$(go env GOROOT)
tar -cf - --exclude="${goroot#/}/test" --exclude="${goroot#/}/doc" -C / "${goroot#/}" -C "$work/stage" goproxy tmp |
	$docker import \
		--change "ENV PATH=$goroot/bin:/usr/local/bin:/usr/bin:/bin" \
		--change "ENV GOPROXY=file:///goproxy" --change "ENV GOSUMDB=off" \
		--change "ENV GOTOOLCHAIN=local" --change "ENV HOME=/tmp" \
		- "$go_image" >/dev/null || fail "import the Go toolchain stand-in"

mkdir -p "$work/rt/etc" "$work/rt/tmp" "$work/rt/home/nonroot"
chmod 1777 "$work/rt/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$work/rt/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$work/rt/etc/group"
tar -cf - -C "$work/rt" . | $docker import - "$runtime_image" >/dev/null || fail "import the runtime stand-in"

# The build context: what docker/Dockerfile.dockerignore lets through.
mkdir -p "$work/ctx"
(cd "$root" && cp -r go.mod go.sum codec protocol session node cmd docker "$work/ctx/")
cp "$root/docker/Dockerfile.dockerignore" "$work/ctx/.dockerignore"

# --- checks ---------------------------------------------------------------------------
image=witnet-p2p:local
if $docker build -q -f "$work/ctx/docker/Dockerfile" \
	--build-arg GO_IMAGE="$go_image" --build-arg RUNTIME_IMAGE="$runtime_image" \
	-t "$image" "$work/ctx" >"$work/build.log" 2>&1; then
	pass "docker build -f docker/Dockerfile ($(du -sh "$work/root" | cut -f1) of engine storage)"
else
	tail -20 "$work/build.log"
	fail "docker build -f docker/Dockerfile"
	echo "$passed passed, $failed failed"
	exit 1
fi

# since prints the seconds elapsed since $1 (a date +%s.%N); below reports $1 < $2.
since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# uid_of prints the uid the main process of container $1 runs as.
uid_of() {
	local pid
	pid=$($docker inspect -f '{{.State.Pid}}' "$1") && awk '/^Uid:/ {print $2}' "/proc/$pid/status"
}

# wait_health waits up to $2 seconds for container $1 to be healthy.
wait_health() {
	local status=
	for _ in $(seq 1 "$2"); do
		status=$($docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)
		[ "$status" = healthy ] && return 0
		sleep 1
	done
	echo "  $1 health: $status"
	return 1
}

# A single node whose JSON-RPC address is not the default: the health check follows it.
$docker run -d --name wp2p-single -e WITNET_P2P_RPC_ADDR=0.0.0.0:31338 \
	--health-interval 1s --health-start-period 1s "$image" >/dev/null
if wait_health wp2p-single 30; then
	pass "health check healthy, following WITNET_P2P_RPC_ADDR=0.0.0.0:31338"
else
	fail "health check healthy, following WITNET_P2P_RPC_ADDR=0.0.0.0:31338"
fi
uid=$(uid_of wp2p-single)
if [ -n "$uid" ] && [ "$uid" != 0 ]; then pass "the node runs as uid $uid, not root"; else fail "the node runs as non-root (uid '$uid')"; fi
start=$(date +%s.%N)
$docker stop -t 10 wp2p-single >/dev/null
elapsed=$(since "$start")
code=$($docker inspect -f '{{.State.ExitCode}}' wp2p-single)
if [ "$code" = 0 ] && below "$elapsed" 10; then
	pass "docker stop: exit code 0 after $elapsed s"
else
	fail "docker stop: exit code $code after $elapsed s (want 0 within 10 s)"
fi
if $docker logs wp2p-single 2>&1 | grep -q "identity key file is readable by other users"; then
	fail "no key-permission warning for the node's own key"
else
	pass "no key-permission warning for the node's own key"
fi
$docker rm -f wp2p-single >/dev/null

# The compose devnet.
compose() { docker-compose -p "$project" -f "$work/ctx/docker/compose.yaml" "$@"; }
if ! compose up -d --no-build >"$work/compose.log" 2>&1; then
	tail -20 "$work/compose.log"
	fail "docker-compose up (4 nodes)"
	echo "$passed passed, $failed failed"
	exit 1
fi
ctr() { compose ps -q "$1"; }
node_cli() { $docker exec "$(ctr "$1")" /usr/local/bin/witnet-p2p "${@:2}"; }

# consolidated prints the number of consolidated sessions of node $1.
consolidated() {
	node_cli "$1" stats 2>/dev/null | awk '/sessions/ && /consolidated/ {n += $3} END {print n + 0}'
}
all=1
for _ in $(seq 1 90); do
	all=1
	for n in node1 node2 node3 node4; do
		[ "$(consolidated $n)" -ge 1 ] || all=0
	done
	[ $all = 1 ] && break
	sleep 1
done
summary=$(for n in node1 node2 node3 node4; do printf '%s:%s ' $n "$(consolidated $n)"; done)
if [ $all = 1 ]; then pass "compose devnet: every node consolidated ($summary)"; else fail "compose devnet: every node consolidated ($summary)"; fi

if wait_health "$(ctr node1)" 60; then pass "compose node1 health check healthy"; else fail "compose node1 health check healthy"; fi

nonroot=1
for n in node1 node2 node3 node4; do
	uid=$(uid_of "$(ctr $n)")
	{ [ -n "$uid" ] && [ "$uid" != 0 ]; } || nonroot=0
done
if [ $nonroot = 1 ]; then pass "compose nodes run as non-root"; else fail "compose nodes run as non-root"; fi

# Let node2 learn more than its bootstrap peer, then stop and re-create its container.
for _ in $(seq 1 60); do
	book=$(node_cli node2 stats 2>/dev/null | awk '/known peers/ {print $3 + $5}')
	[ "${book:-0}" -ge 2 ] && break
	sleep 1
done
id_before=$(node_cli node2 identity 2>/dev/null | awk '/peer ID/ {print $3}')
old=$(ctr node2)
start=$(date +%s.%N)
compose stop -t 10 node2 >/dev/null 2>&1
elapsed=$(since "$start")
code=$($docker inspect -f '{{.State.ExitCode}}' "$old")
if [ "$code" = 0 ] && below "$elapsed" 10; then
	pass "compose stop node2: exit code 0 after $elapsed s"
else
	fail "compose stop node2: exit code $code after $elapsed s (want 0 within 10 s)"
fi
compose rm -f node2 >/dev/null 2>&1
compose up -d --no-build node2 >/dev/null 2>&1
new=$(ctr node2)
id_after=
for _ in $(seq 1 30); do
	id_after=$(node_cli node2 identity 2>/dev/null | awk '/peer ID/ {print $3}')
	[ -n "$id_after" ] && break
	sleep 1
done
started=$($docker logs "$new" 2>&1 | grep -m1 '"node started"\|node started')
book_after=$(echo "$started" | sed -n 's/.*"book_new": \([0-9]*\), "book_tried": \([0-9]*\).*/\1 \2/p' | awk '{print $1 + $2}')
if [ "$new" != "$old" ] && [ -n "$id_before" ] && [ "$id_before" = "$id_after" ] && [ "${book_after:-0}" -ge "${book:-2}" ]; then
	pass "re-created node2 keeps its identity and address book (${id_after:0:16}..., $book_after known at start)"
else
	fail "re-created node2 keeps identity and book: id $id_before -> $id_after, book ${book:-?} -> ${book_after:-?}, container changed: $([ "$new" != "$old" ] && echo yes || echo no)"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
