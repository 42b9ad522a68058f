#!/bin/sh
# Entry point of the node images.
#   join   on first start create the node home (keys, private store, SuperNode key) and enrol
#          with the coordinator using the one-time token, then start this org's Flower
#          SuperNode; SYNTHSPACE_JOIN_ARGS adds options (e.g. --superlink HOST:9092 --ca-cert F),
#          and when SYNTHSPACE_CA_CERT is set the node waits for that file first
#   anything else is run as given (e.g. `synthspace generate ...`, `synthspace publish ...`).
# Environment: SYNTHSPACE_ORG, SYNTHSPACE_COORDINATOR_URL, and the enrolment token either in
# SYNTHSPACE_ENROL_TOKEN or in the file SYNTHSPACE_ENROL_TOKEN_FILE (a mounted secret).
set -eu
home="${SYNTHSPACE_HOME:-/var/lib/synthspace/node}"

ensure_enrolled() {
  if [ ! -f "$home/node.json" ]; then
    : "${SYNTHSPACE_ORG:?set SYNTHSPACE_ORG to this organisation's name}"
    : "${SYNTHSPACE_COORDINATOR_URL:?set SYNTHSPACE_COORDINATOR_URL, e.g. https://catalog.example.org}"
    synthspace node init --home "$home" --org "$SYNTHSPACE_ORG" --coordinator "$SYNTHSPACE_COORDINATOR_URL"
  fi
  # The marker is written only after a successful enrolment (tokens are one-time).
  if [ ! -f "$home/.enrolled" ]; then
    token="${SYNTHSPACE_ENROL_TOKEN:-}"
    if [ -z "$token" ] && [ -n "${SYNTHSPACE_ENROL_TOKEN_FILE:-}" ]; then
      # The operator drops the token in after `synthspace coordinator invite ORG`; wait for it.
      i=0
      while [ ! -s "$SYNTHSPACE_ENROL_TOKEN_FILE" ]; do
        i=$((i + 1))
        [ "$i" -le 600 ] || { echo "node-entrypoint: no enrolment token in $SYNTHSPACE_ENROL_TOKEN_FILE" >&2; exit 1; }
        sleep 1
      done
      token="$(cat "$SYNTHSPACE_ENROL_TOKEN_FILE")"
    fi
    [ -n "$token" ] || { echo "node-entrypoint: not enrolled and no token given" >&2; exit 1; }
    synthspace node enroll --home "$home" --token "$token"
    touch "$home/.enrolled"
  fi
}

case "${1:-join}" in
  join)
    ensure_enrolled
    if [ -n "${SYNTHSPACE_CA_CERT:-}" ]; then
      i=0
      while [ ! -s "$SYNTHSPACE_CA_CERT" ]; do
        i=$((i + 1))
        [ "$i" -le 600 ] || { echo "node-entrypoint: no federation CA certificate at $SYNTHSPACE_CA_CERT" >&2; exit 1; }
        sleep 1
      done
    fi
    # shellcheck disable=SC2086  # the extra arguments are meant to split into words
    exec synthspace node join --home "$home" ${SYNTHSPACE_JOIN_ARGS:-}
    ;;
  *)
    exec "$@"
    ;;
esac
