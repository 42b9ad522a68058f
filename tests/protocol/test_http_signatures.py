"""RFC 9421 request signatures and RFC 9530 Content-Digest.

Known answers: RFC 9421 Appendix B.2.6 (Ed25519 over date, @method, @path, @authority,
content-type, content-length with test-key-ed25519 from B.1.4) must verify, and re-signing
its signature base must give the RFC's bytes. Then synthspace's policy (verify_request):
every tampered component or parameter is rejected, and a real httpx client talks to a real
server over a socket on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from synthspace import http_signatures as hs
from synthspace import keys
from synthspace.errors import HTTPSignatureError, VerificationError

# RFC 9421 Appendix B.1.4.
RFC_PRIVATE_PEM = b"""-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----
"""
RFC_PUBLIC_PEM = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----
"""
# RFC 9421 Appendix B.2 test request.
RFC_METHOD = "POST"
RFC_URI = "https://example.com/foo?param=Value&Pet=dog"
RFC_BODY = b'{"hello": "world"}'
RFC_HEADERS = {
    "Host": "example.com",
    "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "Content-Type": "application/json",
    "Content-Digest": "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
    "Content-Length": "18",
}
# RFC 9421 Appendix B.2.6.
B26_INPUT = 'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"'
B26_SIGNATURE = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
B26_BASE = (
    b'"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    b'"@method": POST\n'
    b'"@path": /foo\n'
    b'"@authority": example.com\n'
    b'"content-type": application/json\n'
    b'"content-length": 18\n'
    b'"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length")'
    b';created=1618884473;keyid="test-key-ed25519"'
)


def rfc_private_key() -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(RFC_PRIVATE_PEM, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def test_rfc9421_b26_verifies() -> None:
    headers = {**RFC_HEADERS, "Signature-Input": B26_INPUT, "Signature": B26_SIGNATURE}
    pub = keys.load_public_key_pem(RFC_PUBLIC_PEM)
    sig = hs.verify_message_signature(RFC_METHOD, RFC_URI, headers, pub)
    assert sig.label == "sig-b26"
    assert sig.components == ["date", "@method", "@path", "@authority", "content-type", "content-length"]
    assert sig.param("created") == 1618884473 and sig.param("keyid") == "test-key-ed25519"
    assert hs.signature_base(RFC_METHOD, RFC_URI, headers, sig.components, sig.params) == B26_BASE


def test_rfc9421_b26_resigns_to_the_same_bytes() -> None:
    key = rfc_private_key()
    assert keys.public_key_pem(key) == RFC_PUBLIC_PEM
    components = ["date", "@method", "@path", "@authority", "content-type", "content-length"]
    params: list[tuple[str, hs.Bare]] = [("created", 1618884473), ("keyid", "test-key-ed25519")]
    base = hs.signature_base(RFC_METHOD, RFC_URI, RFC_HEADERS, components, params)
    assert base == B26_BASE
    assert f"sig-b26={hs.serialize_signature_params(components, params)}" == B26_INPUT
    assert f"sig-b26=:{base64.b64encode(key.sign(base)).decode()}:" == B26_SIGNATURE


@pytest.mark.parametrize(
    "change",
    [
        {"method": "PUT"},
        {"uri": "https://example.com/fo0?param=Value&Pet=dog"},
        {"uri": "https://example.org/foo?param=Value&Pet=dog"},
        {"Date": "Tue, 20 Apr 2021 02:07:56 GMT"},
        {"Content-Type": "text/plain"},
        {"Content-Length": "19"},
        {"Signature-Input": B26_INPUT.replace("1618884473", "1618884474")},
        {"Signature-Input": B26_INPUT.replace("test-key-ed25519", "test-key-ed25518")},
        {"Signature-Input": B26_INPUT.replace('"date" ', "")},
        {"Signature": B26_SIGNATURE.replace("wqcA", "wqcB")},
    ],
)
def test_rfc9421_b26_tampering_is_rejected(change: dict[str, str]) -> None:
    headers = {**RFC_HEADERS, "Signature-Input": B26_INPUT, "Signature": B26_SIGNATURE}
    method, uri = change.pop("method", RFC_METHOD), change.pop("uri", RFC_URI)
    headers.update(change)
    with pytest.raises(HTTPSignatureError):
        hs.verify_message_signature(method, uri, headers, keys.load_public_key_pem(RFC_PUBLIC_PEM))


def test_content_digest_rfc9530_example() -> None:
    # RFC 9530 section 2 / RFC 9421 B.2: sha-256 of {"hello": "world"}.
    assert hs.content_digest(RFC_BODY) == "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    both = {"content-digest": hs.content_digest(RFC_BODY) + ", " + RFC_HEADERS["Content-Digest"]}
    hs.check_content_digest(both, RFC_BODY)  # the RFC's sha-512 member also checks out
    with pytest.raises(HTTPSignatureError, match="does not match"):
        hs.check_content_digest(both, RFC_BODY + b" ")
    with pytest.raises(HTTPSignatureError, match="sha-256"):
        hs.check_content_digest({"Content-Digest": RFC_HEADERS["Content-Digest"]}, RFC_BODY)
    with pytest.raises(HTTPSignatureError, match="missing"):
        hs.check_content_digest({}, RFC_BODY)


# ---- synthspace policy --------------------------------------------------------------------

NOW = 1_800_000_000
URI = "http://127.0.0.1:8123/v1/artifacts?dry_run=1"
BODY = b'{"envelope": "..."}'


@pytest.fixture
def request_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(b"\x42" * 32)


def _signed(key: Ed25519PrivateKey, **kw: object) -> dict[str, str]:
    args: dict = {"created": NOW, "nonce": "n-0001", "lifetime_s": 300}
    args.update(kw)
    return hs.sign_request("POST", URI, BODY, key, **args)


def _resolver(key: Ed25519PrivateKey):
    table = {keys.key_id(key): key.public_key()}

    def resolve(keyid: str) -> Ed25519PublicKey:
        return table[keyid]  # KeyError -> "unknown request key id"

    return resolve


def test_signed_headers_shape(request_key: Ed25519PrivateKey) -> None:
    h = _signed(request_key)
    kid = keys.key_id(request_key)
    assert h["Content-Digest"] == hs.content_digest(BODY)
    assert h["Signature-Input"] == (
        f'sig1=("@method" "@target-uri" "content-digest");created={NOW};expires={NOW + 300};'
        f'keyid="{kid}";nonce="n-0001";alg="ed25519"'
    )
    assert h["Signature"].startswith("sig1=:") and h["Signature"].endswith(":")
    v = hs.verify_request("POST", URI, h, BODY, _resolver(request_key), now=NOW + 10)
    assert v == hs.VerifiedRequest(keyid=kid, created=NOW, expires=NOW + 300, nonce="n-0001")


def test_target_uri_normalisation_is_applied_both_sides(request_key: Ed25519PrivateKey) -> None:
    h = hs.sign_request("post", "HTTP://LocalHost:80/a?b=1#frag", b"", request_key, created=NOW, nonce="x")
    hs.verify_request("POST", "http://localhost/a?b=1", h, b"", _resolver(request_key), now=NOW)
    assert hs.normalize_target_uri("https://[::1]:443") == "https://[::1]/"
    assert hs.normalize_target_uri("https://h:8443/p?") == "https://h:8443/p?"
    with pytest.raises(HTTPSignatureError):
        hs.normalize_target_uri("/relative/path")


def _replace_param(h: dict[str, str], old: str, new: str) -> dict[str, str]:
    assert old in h["Signature-Input"]
    return {**h, "Signature-Input": h["Signature-Input"].replace(old, new)}


TAMPERS = {
    "method": lambda h: ("PUT", URI, h, BODY),
    "uri-path": lambda h: ("POST", URI.replace("artifacts", "artifactz"), h, BODY),
    "uri-query": lambda h: ("POST", URI.replace("dry_run=1", "dry_run=0"), h, BODY),
    "uri-host": lambda h: ("POST", URI.replace("127.0.0.1", "127.0.0.2"), h, BODY),
    "uri-port": lambda h: ("POST", URI.replace("8123", "8124"), h, BODY),
    "body": lambda h: ("POST", URI, h, BODY + b" "),
    "digest-header": lambda h: ("POST", URI, {**h, "Content-Digest": hs.content_digest(b"other")}, b"other"),
    "created": lambda h: ("POST", URI, _replace_param(h, f"created={NOW}", f"created={NOW + 1}"), BODY),
    "expires": lambda h: ("POST", URI, _replace_param(h, f"expires={NOW + 300}", f"expires={NOW + 301}"), BODY),
    "nonce": lambda h: ("POST", URI, _replace_param(h, 'nonce="n-0001"', 'nonce="n-0002"'), BODY),
    "keyid": lambda h: ("POST", URI, _replace_param(h, 'keyid="', 'keyid="0'), BODY),
    "alg": lambda h: ("POST", URI, _replace_param(h, 'alg="ed25519"', 'alg="hmac-sha256"'), BODY),
    "drop-component": lambda h: ("POST", URI, _replace_param(h, ' "content-digest"', ""), BODY),
    "label": lambda h: ("POST", URI, {**h, "Signature": h["Signature"].replace("sig1=", "sig2=")}, BODY),
    "signature": lambda h: ("POST", URI, {**h, "Signature": h["Signature"][:8] + ("A" if h["Signature"][8] != "A" else "B") + h["Signature"][9:]}, BODY),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_requests_are_rejected(name: str, request_key: Ed25519PrivateKey) -> None:
    method, uri, headers, body = TAMPERS[name](_signed(request_key))
    with pytest.raises(HTTPSignatureError):
        hs.verify_request(method, uri, headers, body, _resolver(request_key), now=NOW)


def test_keyid_of_another_enrolled_key_fails(request_key: Ed25519PrivateKey) -> None:
    other = keys.generate_private_key()
    table = {keys.key_id(k): k.public_key() for k in (request_key, other)}
    h = _replace_param(_signed(request_key), keys.key_id(request_key), keys.key_id(other))
    with pytest.raises(HTTPSignatureError, match="does not verify"):
        hs.verify_request("POST", URI, h, BODY, table.__getitem__, now=NOW)


def test_freshness(request_key: Ed25519PrivateKey) -> None:
    resolve = _resolver(request_key)
    h = _signed(request_key, lifetime_s=1000)
    with pytest.raises(HTTPSignatureError, match="stale"):
        hs.verify_request("POST", URI, h, BODY, resolve, now=NOW + 301, max_age_s=300)
    hs.verify_request("POST", URI, h, BODY, resolve, now=NOW + 301, max_age_s=600)
    with pytest.raises(HTTPSignatureError, match="future"):
        hs.verify_request("POST", URI, h, BODY, resolve, now=NOW - hs.MAX_CLOCK_SKEW_S - 1)
    hs.verify_request("POST", URI, h, BODY, resolve, now=NOW - hs.MAX_CLOCK_SKEW_S)
    short = _signed(request_key, lifetime_s=10)
    with pytest.raises(HTTPSignatureError, match="expired"):
        hs.verify_request("POST", URI, short, BODY, resolve, now=NOW + 11)


def test_replayed_nonce_is_rejected_only_after_the_signature_verifies(request_key: Ed25519PrivateKey) -> None:
    seen: set[tuple[str, str]] = set()

    def seen_nonce(keyid: str, nonce: str) -> bool:
        if (keyid, nonce) in seen:
            return True
        seen.add((keyid, nonce))
        return False

    h = _signed(request_key)
    # A forged request with the same nonce must not record (burn) it.
    forged = {**h, "Signature": "sig1=:" + base64.b64encode(b"\x00" * 64).decode() + ":"}
    with pytest.raises(HTTPSignatureError, match="does not verify"):
        hs.verify_request("POST", URI, forged, BODY, _resolver(request_key), now=NOW, seen_nonce=seen_nonce)
    assert not seen
    hs.verify_request("POST", URI, h, BODY, _resolver(request_key), now=NOW, seen_nonce=seen_nonce)
    with pytest.raises(HTTPSignatureError, match="replayed"):
        hs.verify_request("POST", URI, h, BODY, _resolver(request_key), now=NOW, seen_nonce=seen_nonce)


@pytest.mark.parametrize(
    "headers, match",
    [
        ({}, "not signed"),
        ({"Signature-Input": 'sig1=("@method");created=1', "Signature": "sig1=:AAAA:"}, "must cover"),
        ({"Signature-Input": "sig1=(", "Signature": "sig1=:AAAA:"}, "malformed"),
        ({"Signature-Input": 'sig1=("@method" "@target-uri" "content-digest")', "Signature": "sig1=:!!:"}, "base64"),
        ({"Signature-Input": 'sig1=("@method" "@target-uri" "content-digest");alg="ed25519"', "Signature": "sig1=:AAAA:"}, "keyid"),
        ({"Signature-Input": 'sig1=("@method";sf "@target-uri" "content-digest")', "Signature": "sig1=:AAAA:"}, "component parameters"),
        ({"Signature-Input": 'a=("@method"), b=("@method")', "Signature": "a=:AAAA:, b=:AAAA:"}, "expected one"),
        ({"Signature-Input": 'sig1=("@method" "@target-uri" "content-digest")', "Signature": 'sig1="str"'}, "byte sequence"),
    ],
)
def test_malformed_signature_headers(headers: dict[str, str], match: str, request_key: Ed25519PrivateKey) -> None:
    with pytest.raises(HTTPSignatureError, match=match):
        hs.verify_request("POST", URI, headers, BODY, _resolver(request_key), now=NOW)


def test_unknown_key_and_errors_are_verification_errors(request_key: Ed25519PrivateKey) -> None:
    with pytest.raises(HTTPSignatureError, match="unknown request key id"):
        hs.verify_request("POST", URI, _signed(request_key), BODY, _resolver(keys.generate_private_key()), now=NOW)
    assert issubclass(HTTPSignatureError, VerificationError)


def test_structured_field_round_trip() -> None:
    params: list[tuple[str, hs.Bare]] = [
        ("created", 1), ("keyid", 'a"b\\c'), ("flag", True), ("off", False), ("tok", hs.Token("x/y")),
        ("bin", b"\x00\xff"), ("dec", 1.5),
    ]
    text = "s=" + hs.serialize_signature_params(["@method", "x-h"], params)
    assert text == 's=("@method" "x-h");created=1;keyid="a\\"b\\\\c";flag;off=?0;tok=x/y;bin=:AP8=:;dec=1.5'
    parsed = hs._Parser(text, "t").dictionary()
    assert parsed["s"][1] == params
    assert "s=" + hs.serialize_signature_params(["@method", "x-h"], parsed["s"][1]) == text


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40), st.text(max_size=12))
def test_structured_field_strings_round_trip_and_bad_ones_are_named(value: str, junk: str) -> None:
    # Any printable-ASCII string survives serialise -> parse (the fast path and its escapes).
    text = hs.serialize_signature_params([value], [("k", value)])
    items, params = hs._Parser(text, "t").member_value()
    assert items == [(value, [])] and params == [("k", value)]
    # Anything inside quotes either parses to what the escapes say or fails with the named error.
    raw = '"' + junk + '"'
    parser = hs._Parser(raw, "t")
    try:
        got = parser.bare()
    except HTTPSignatureError:
        return
    assert isinstance(got, str)
    assert '"' + got.replace("\\", "\\\\").replace('"', '\\"') + '"' == raw[: parser.i]


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    st.from_regex(r"/[a-z0-9/_\-]{0,20}", fullmatch=True),
    st.from_regex(r"([a-z0-9]{1,5}=[a-zA-Z0-9%]{0,5}(&[a-z]{1,3}=[0-9]{1,3}){0,2})?", fullmatch=True),
    st.binary(max_size=300),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20),
)
def test_property_sign_verify(method: str, path: str, query: str, body: bytes, nonce: str) -> None:
    key = Ed25519PrivateKey.from_private_bytes(b"\x09" * 32)
    uri = f"https://coord.example:8443{path}" + (f"?{query}" if query else "")
    h = hs.sign_request(method, uri, body, key, created=NOW, nonce=nonce)
    resolve = {keys.key_id(key): key.public_key()}.__getitem__
    v = hs.verify_request(method, uri, h, body, resolve, now=NOW)
    assert v.nonce == nonce
    with pytest.raises(HTTPSignatureError):
        hs.verify_request(method, uri, h, body + b"x", resolve, now=NOW)
    with pytest.raises(HTTPSignatureError):
        hs.verify_request(method, uri + ("&z=1" if query else "?z=1"), h, body, resolve, now=NOW)


# ---- a real client and server over a socket -----------------------------------------------


class _Server:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.seen: set[tuple[str, str]] = set()
        self.resolve = {keys.key_id(key): key.public_key()}.__getitem__
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                target = f"http://{self.headers['Host']}{self.path}"
                try:
                    v = hs.verify_request(
                        "POST", target, dict(self.headers.items()), body, outer.resolve, seen_nonce=outer.check_nonce
                    )
                    status, payload = 200, {"keyid": v.keyid, "bytes": len(body)}
                except HTTPSignatureError as exc:
                    status, payload = 401, {"error": "bad_signature", "detail": str(exc)}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def check_nonce(self, keyid: str, nonce: str) -> bool:
        if (keyid, nonce) in self.seen:
            return True
        self.seen.add((keyid, nonce))
        return False


@pytest.fixture
def server(request_key: Ed25519PrivateKey) -> Iterator[_Server]:
    srv = _Server(request_key)
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
        srv.thread.join(timeout=5)


def test_httpx_client_against_real_server(server: _Server, request_key: Ed25519PrivateKey) -> None:
    auth = hs.Ed25519RequestAuth(request_key)
    with httpx.Client(base_url=server.url, auth=auth, timeout=10) as client:
        r = client.post("/v1/artifacts?x=1", json={"hello": "world"})
        assert r.status_code == 200, r.text
        assert r.json()["keyid"] == keys.key_id(request_key)
        # multipart bodies (how artifacts are published) are digested as sent
        r = client.post("/v1/artifacts", files={"envelope": ("e.json", b"{}"), "data": ("d.parquet", b"PAR1" * 1000)})
        assert r.status_code == 200, r.text
        assert r.json()["bytes"] > 4000
        # two requests never share a nonce
        assert len(server.seen) == 2
    # The same signed request sent twice: the second is a replay.
    req = httpx.Request("POST", server.url + "/v1/x", content=b"payload")
    signed = next(auth.auth_flow(req))
    with httpx.Client(timeout=10) as plain:
        first = plain.post(server.url + "/v1/x", content=b"payload", headers=dict(signed.headers))
        assert first.status_code == 200, first.text
        again = plain.post(server.url + "/v1/x", content=b"payload", headers=dict(signed.headers))
        assert again.status_code == 401 and "replayed" in again.json()["detail"]
        # Unsigned, and signed by an unknown key, are refused over the wire too.
        assert plain.post(server.url + "/v1/x", content=b"p").status_code == 401
        stranger = hs.Ed25519RequestAuth(keys.generate_private_key())
        r = plain.post(server.url + "/v1/x", content=b"p", auth=stranger)
        assert r.status_code == 401 and "unknown request key id" in r.json()["detail"]


def test_async_httpx_client_against_real_server(server: _Server, request_key: Ed25519PrivateKey) -> None:
    import asyncio

    async def go() -> list[int]:
        auth = hs.Ed25519RequestAuth(request_key)
        async with httpx.AsyncClient(base_url=server.url, auth=auth, timeout=10) as client:
            responses = await asyncio.gather(*(client.post(f"/v1/a/{i}", content=b"x" * i) for i in range(5)))
        return [r.status_code for r in responses]

    assert asyncio.run(go()) == [200] * 5
    assert len(server.seen) == 5  # five distinct nonces


# ---- issue 14: repeated and reordered header lines (one header reader) ------------------------

_FUZZ_KEY = Ed25519PrivateKey.generate()
_FUZZ_URI = "http://127.0.0.1:9/v1/orgs/acme/keys"
_FUZZ_BODY = b'{"purpose": "request"}'


def _fuzz_resolve(keyid: str) -> Ed25519PublicKey:
    return _FUZZ_KEY.public_key()


_header_line = st.tuples(
    st.sampled_from(["Content-Digest", "content-digest", "Signature", "SIGNATURE", "Signature-Input", "X-Other"]),
    st.one_of(
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
        st.just(hs.content_digest(b"other body")),
        st.just('sig1=("@method");created=1;created=2'),
        st.just("sha-256=:AAAA:, sha-256=:BBBB:"),
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    extra=st.lists(_header_line, max_size=4),
    order=st.permutations(range(3)),
    body=st.sampled_from([_FUZZ_BODY, b"attacker body", b""]),
)
def test_fuzz_repeated_and_reordered_headers_only_named_errors(
    extra: list[tuple[str, str]], order: list[int], body: bytes
) -> None:
    """Any mix of repeated/reordered signature header lines either verifies the signed body (and
    only when every signature header appears exactly once) or raises HTTPSignatureError."""
    signed = list(hs.sign_request("POST", _FUZZ_URI, _FUZZ_BODY, _FUZZ_KEY).items())
    lines = [signed[i] for i in order]
    for name, value in extra:
        lines.insert(len(value) % (len(lines) + 1), (name, value))
    try:
        hs.verify_request("POST", _FUZZ_URI, lines, body, _fuzz_resolve)
    except HTTPSignatureError:
        return
    counts = {n: sum(1 for k, _ in lines if k.lower() == n) for n in ("signature", "signature-input", "content-digest")}
    assert counts == {"signature": 1, "signature-input": 1, "content-digest": 1}
    assert body == _FUZZ_BODY  # a verified request always carries the signed body


def test_repeated_header_line_is_a_named_error_in_every_reader() -> None:
    signed = hs.sign_request("POST", _FUZZ_URI, _FUZZ_BODY, _FUZZ_KEY)
    for name in signed:
        lines = [*signed.items(), (name.lower(), signed[name])]
        with pytest.raises(HTTPSignatureError, match="appears 2 times"):
            hs.verify_request("POST", _FUZZ_URI, lines, _FUZZ_BODY, _fuzz_resolve)
    with pytest.raises(HTTPSignatureError, match="appears 2 times"):
        hs.check_content_digest([("content-digest", signed["Content-Digest"])] * 2, _FUZZ_BODY)
    # positive control: the lines as signed verify
    assert hs.verify_request("POST", _FUZZ_URI, list(signed.items()), _FUZZ_BODY, _fuzz_resolve)


def test_repeated_structured_field_members_and_parameters_are_refused() -> None:
    for text in ("sha-256=:AAAA:, sha-256=:BBBB:",):
        with pytest.raises(HTTPSignatureError, match="repeated"):
            hs.check_content_digest({"content-digest": text}, b"")
    signed = hs.sign_request("POST", _FUZZ_URI, _FUZZ_BODY, _FUZZ_KEY)
    doubled = signed["Signature-Input"] + ";alg=\"ed25519\""
    with pytest.raises(HTTPSignatureError, match="repeated"):
        hs.parse_signature({**signed, "Signature-Input": doubled})
