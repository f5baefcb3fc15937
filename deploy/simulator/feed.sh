#!/bin/sh
# Entry point of the compose stack's `feed` service: a stand-in for a live traffic API, so
# that `roadpulse poll` has something to poll without internet. Every FEED_REFRESH seconds it
# writes FEED_TEMPLATE with each @NOW@ replaced by the current time (RFC 3339, UTC) to
# FEED_DIR/loops.json, and busybox httpd serves FEED_DIR on FEED_PORT (with Last-Modified and
# ETag, so the poller's conditional requests get 304 between refreshes).
#
#   FEED_TEMPLATE  /etc/roadpulse/feed.json.in   (deploy/compose/feed.json.in, mounted)
#   FEED_DIR       /tmp/feed
#   FEED_PORT      8080
#   FEED_REFRESH   10
set -eu
template="${FEED_TEMPLATE:-/etc/roadpulse/feed.json.in}"
dir="${FEED_DIR:-/tmp/feed}"
port="${FEED_PORT:-8080}"
refresh="${FEED_REFRESH:-10}"
[ -r "$template" ] || { echo "feed: cannot read the template $template" >&2; exit 1; }
mkdir -p "$dir"
render() {
  sed "s/@NOW@/$(date -u +%Y-%m-%dT%H:%M:%SZ)/g" "$template" > "$dir/.loops.json"
  mv "$dir/.loops.json" "$dir/loops.json"
}
render
busybox httpd -f -p "$port" -h "$dir" &
httpd=$!
trap 'kill "$httpd" 2>/dev/null; exit 0' TERM INT
echo "feed: serving $dir/loops.json on port $port, refreshed every $refresh s"
while kill -0 "$httpd" 2>/dev/null; do
  sleep "$refresh" &
  wait $! || true
  render
done
echo "feed: httpd exited" >&2
exit 1
