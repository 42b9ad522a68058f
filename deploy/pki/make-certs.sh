#!/bin/sh
# A small private CA and server certificates for a synthspace deployment (TLS for the
# coordinator's HTTPS front and for Flower's SuperLink). Needs only openssl.
#
#   deploy/pki/make-certs.sh OUT_DIR HOST [HOST ...]
#
# Writes OUT_DIR/ca.crt + ca.key (keep ca.key offline once the certificates are issued) and,
# for each HOST, HOST.crt + HOST.key with subjectAltName DNS:HOST (plus IP:127.0.0.1 and
# DNS:localhost so the same certificate works for local checks). Keys are EC P-256, mode 0600.
# Existing files are never overwritten: delete them first to re-issue.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 OUT_DIR HOST [HOST ...]" >&2; exit 2; }
out="$1"; shift
days="${CERT_DAYS:-365}"
umask 077
mkdir -p "$out"

if [ ! -f "$out/ca.key" ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$out/ca.key"
  openssl req -x509 -new -key "$out/ca.key" -sha256 -days "$((days * 5))" \
    -subj "/CN=synthspace deployment CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$out/ca.crt"
fi

for host in "$@"; do
  [ -f "$out/$host.crt" ] && { echo "keep existing $out/$host.crt"; continue; }
  openssl ecparam -name prime256v1 -genkey -noout -out "$out/$host.key"
  openssl req -new -key "$out/$host.key" -subj "/CN=$host" -out "$out/$host.csr"
  printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' "$host" > "$out/$host.ext"
  openssl x509 -req -in "$out/$host.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
    -days "$days" -sha256 -extfile "$out/$host.ext" -out "$out/$host.crt"
  rm -f "$out/$host.csr" "$out/$host.ext"
  echo "issued $out/$host.crt"
done
chmod 0644 "$out/ca.crt" "$out"/*.crt
