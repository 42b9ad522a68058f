#!/bin/sh
# Entry point of the coordinator image.
#   serve      initialise the coordinator home on first start, then serve the catalog on :8080
#   superlink  start Flower's SuperLink with the coordinator's CA and registered SuperNode keys
#   anything else is run as given (e.g. `synthspace coordinator invite ORG --home ...`).
# The home is a volume: first start creates the log key, database schema and blob store;
# later starts reuse them (init is skipped when the log key already exists).
set -eu
home="${SYNTHSPACE_COORDINATOR_HOME:-/var/lib/synthspace/coordinator}"

init_home() {
  if [ ! -f "$home/keys/log.pem" ]; then
    echo "coordinator-entrypoint: initialising $home"
    synthspace coordinator init --home "$home"
  fi
}

case "${1:-serve}" in
  serve)
    init_home
    exec synthspace coordinator serve --home "$home" --host 0.0.0.0 --port "${SYNTHSPACE_PORT:-8080}"
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
    exec synthspace federate superlink --home "$home" ${SYNTHSPACE_SUPERLINK_ARGS:---host 0.0.0.0 --port 9092}
    ;;
  *)
    exec "$@"
    ;;
esac
