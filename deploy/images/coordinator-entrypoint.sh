#!/bin/sh
# Entry point of the coordinator image.
#   serve      initialise the coordinator home on first start, then serve the catalog on :8600
#   superlink  start Flower's SuperLink (TLS from the federation CA in the coordinator home,
#              SuperNode authentication with the keys nodes registered at enrolment); when
#              SYNTHSPACE_PUBLISH_CA_DIR is set, copy the CA certificate (public) there for nodes
#   anything else is run as given (e.g. `synthspace coordinator invite ORG --home ...`).
# The home is a volume: first start creates the log key, database schema and blob store;
# later starts reuse them (init is skipped when the log key already exists). On first start
# SYNTHSPACE_LOG_ORIGIN and SYNTHSPACE_PUBLIC_URL, when set, become --origin / --public-url.
set -eu
home="${SYNTHSPACE_COORDINATOR_HOME:-/var/lib/synthspace/coordinator}"

init_home() {
  if [ ! -f "$home/keys/log.pem" ]; then
    echo "coordinator-entrypoint: initialising $home"
    # The log origin names the log in every checkpoint and cannot change later; without it
    # init would use the container's random hostname. The public URL is what clients sign.
    set -- --home "$home"
    [ -z "${SYNTHSPACE_LOG_ORIGIN:-}" ] || set -- "$@" --origin "$SYNTHSPACE_LOG_ORIGIN"
    [ -z "${SYNTHSPACE_PUBLIC_URL:-}" ] || set -- "$@" --public-url "$SYNTHSPACE_PUBLIC_URL"
    synthspace coordinator init "$@"
  fi
}

case "${1:-serve}" in
  serve)
    init_home
    exec synthspace coordinator serve --home "$home" --host 0.0.0.0 --port "${SYNTHSPACE_PORT:-8600}"
    ;;
  superlink)
    # The coordinator service initialises the shared home; wait for it rather than racing it.
    i=0
    while [ ! -f "$home/keys/log.pem" ]; do
      i=$((i + 1))
      [ "$i" -le 120 ] || { echo "coordinator-entrypoint: $home was never initialised" >&2; exit 1; }
      sleep 1
    done
    # shellcheck disable=SC2086  # the extra arguments are meant to split into words
    synthspace federate superlink --home "$home" ${SYNTHSPACE_SUPERLINK_ARGS:---host 0.0.0.0 --port 9092} &
    pid=$!
    trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
    if [ -n "${SYNTHSPACE_PUBLISH_CA_DIR:-}" ]; then
      ca="$home/federation/ca/ca.crt"
      while [ ! -s "$ca" ] && kill -0 "$pid" 2>/dev/null; do sleep 1; done
      if [ -s "$ca" ]; then
        cp "$ca" "$SYNTHSPACE_PUBLISH_CA_DIR/ca.crt.tmp" && mv "$SYNTHSPACE_PUBLISH_CA_DIR/ca.crt.tmp" "$SYNTHSPACE_PUBLISH_CA_DIR/ca.crt"
        echo "coordinator-entrypoint: federation CA certificate published to $SYNTHSPACE_PUBLISH_CA_DIR/ca.crt"
      fi
    fi
    # Wait for SuperLink; a signal interrupts the first wait, so wait again for its exit status.
    wait "$pid" || { status=$?; wait "$pid" 2>/dev/null || true; exit "$status"; }
    ;;
  *)
    exec "$@"
    ;;
esac
