# Shell side of the suites that run the test build of vmediad end to end
# with the C test peer. Source after test.sh, with top, work and port set.

bin=$top/build/test/sbin/vmediad
peer=$top/build/regress/vmedia-peer
base=http://127.0.0.1:$port
log=$work/vmediad.log
mkdir -p "$work/empty"
chmod 755 "$work/empty"

# start_daemon SOCKET: vmediad -d on $work/vmediad.conf, its pid in $pid,
# ready once it serves local clients on $work/SOCKET.sock; if it died,
# says so and ends the suite. Nothing of ours outlives the suite.
start_daemon() {
	"$bin" -d -v -f "$work/vmediad.conf" >"$log" 2>&1 &
	pid=$!
	trap 'kill -9 $pid $(jobs -p) 2>/dev/null' EXIT
	for i in $(seq 50); do
		grep -q "local clients on $work/$1.sock" "$log" && break
		sleep 0.1
	done
	if ! kill -0 $pid 2>/dev/null; then
		notok daemon_starts "$(tail -3 "$log")"
		exit 1
	fi
}

# stop_daemon: SIGTERM, then up to 3 s to end; its exit status in $status.
stop_daemon() {
	kill -TERM $pid
	wait_gone $pid 30
}

# daemon_survived NAME: ok if vmediad still runs and its log shows no
# crashed child and no broken channel.
daemon_survived() {
	local bad='SIGSYS\|protocol error from\|unexpected \|'
	bad+='channel to [a-z]* full\|(pid [0-9]*) stopped answering'

	! grep -q "$bad" "$log" && kill -0 $pid && ok "$1" ||
		notok "$1" "$(grep -m3 "$bad" "$log")"
}

# json EXPR: EXPR of the JSON document on stdin as d, printed by Python.
json() {
	python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" 2>/dev/null
}

# uri EXPORT: the NBD URI of a socket export's local clients.
uri() {
	echo "nbd+unix:///?socket=$work/$1.sock"
}

# start_peer NAME URL IMAGE [options]: a peer in the background, its pid
# in $ppid_, its output in $work/NAME.out, ready once its NBD handshake
# is done.
ppid_=
start_peer() {
	local name=$1 url=$2 image=$3
	shift 3
	rm -f "$work/$name.ready"
	"$peer" -v --daemon-ready "$work/$name.ready" "$@" "$url" "$image" \
	    >"$work/$name.out" 2>&1 &
	ppid_=$!
	for i in $(seq 50); do
		[ -e "$work/$name.ready" ] && break
		kill -0 $ppid_ 2>/dev/null || break
		sleep 0.1
	done
}

# wait_gone PID TENTHS: the process ends in time; status in $status.
wait_gone() {
	local i
	status=
	for ((i = 0; i < $2; i++)); do
		if ! kill -0 "$1" 2>/dev/null; then
			wait "$1"
			status=$?
			return 0
		fi
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 1
}

# attach_peer NAME EXPORT IMAGE [options]: start_peer on the export's
# WebSocket, then wait until the API shows the export active.
attach_peer() {
	local name=$1 export=$2 image=$3
	shift 3
	start_peer "$name" "ws://127.0.0.1:$port/nbd/$export" "$image" "$@"
	for i in $(seq 30); do
		curl -s "$base/api/exports" | grep -q "\"name\": \"$export\".*\"state\": \"active\"" && break
		sleep 0.1
	done
}

# eject EXPORT: the API's eject, its answer unread.
eject() {
	curl -s -X POST "$base/api/exports/$1/eject" >/dev/null
}
