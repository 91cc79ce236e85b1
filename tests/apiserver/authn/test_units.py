"""Unit tests of the pieces: PKI issuance, the token file parser, JWS verification, bearer extraction,
the apiserver's TLS flags."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sampan._lib.pki import CertificateAuthority, CertSpec, issue_once, load_cert
from sampan.apiserver.authn import jws
from sampan.apiserver.authn.lookup import DictLookup
from sampan.apiserver.authn.rejected import CredentialsRejected
from sampan.apiserver.authn.serviceaccount import ServiceAccountTokens
from sampan.apiserver.authn.static_token import parse_token_file
from sampan.apiserver.satokens import TokenSigner, service_account_claims
from sampan.cli.apiserver import config_from_args
from sampan.cli.main import build_parser


def test_issue_once_keeps_a_good_certificate_and_reissues_when_names_change(tmp_path: Path) -> None:
    ca = CertificateAuthority.load_or_create(tmp_path / "ca.crt", tmp_path / "ca.key")
    assert CertificateAuthority.load_or_create(tmp_path / "ca.crt", tmp_path / "ca.key").pem == ca.pem
    spec = CertSpec("kube-apiserver", dns_names=("localhost",), ip_addresses=("127.0.0.1",), server=True)
    crt, key = tmp_path / "a.crt", tmp_path / "a.key"
    issue_once(ca, spec, cert_path=crt, key_path=key)
    first = crt.read_bytes()
    issue_once(ca, spec, cert_path=crt, key_path=key)
    assert crt.read_bytes() == first
    wider = CertSpec("kube-apiserver", dns_names=("localhost", "example.test"), ip_addresses=("127.0.0.1",),
                     server=True)
    issue_once(ca, wider, cert_path=crt, key_path=key)
    assert crt.read_bytes() != first
    sans = load_cert(crt).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "example.test" in sans.get_values_for_type(x509.DNSName)
    other = CertificateAuthority.create("other")
    issue_once(other, wider, cert_path=crt, key_path=key)  # signed by another CA now: reissued
    assert other.signed(load_cert(crt))
    assert not ca.signed(load_cert(crt))
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    usage = load_cert(crt).extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in usage


def test_token_file_parsing(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text('t1,alice,1,"a,b"\n\nt2,bob,2\n')
    users = parse_token_file(path)
    assert users["t1"].groups == ("a", "b", "system:authenticated")
    assert users["t2"].username == "bob"
    path.write_text("t1,alice\n")
    with pytest.raises(ValueError, match=r"tokens.csv:1: .*3 columns"):
        parse_token_file(path)
    with pytest.raises(ValueError, match="cannot read"):
        parse_token_file(tmp_path / "missing.csv")


@pytest.mark.parametrize("key", [ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048)])
def test_jws_round_trip_and_algorithm_confusion(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    signer = TokenSigner(key, issuer="iss")
    token = signer.sign({"iss": "iss", "sub": "x"})
    header, claims_, signing_input, signature = jws.parse(token)
    assert claims_["sub"] == "x"
    assert header["alg"] == ("RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256")
    assert jws.verify(header, signing_input, signature, [signer.public_key()])
    assert not jws.verify({**header, "alg": "none"}, signing_input, signature, [signer.public_key()])
    assert not jws.verify({**header, "alg": "HS256"}, signing_input, signature, [signer.public_key()])
    with pytest.raises(jws.NotAJWT):
        jws.parse("a.b")


def _sa_tokens(now: float, objects: dict[tuple[str, str, str], dict[str, object]]) -> ServiceAccountTokens:
    class Clock:
        def wall(self) -> float:
            return now

    signer = TokenSigner(ec.generate_private_key(ec.SECP256R1()), issuer="https://iss")
    tokens = ServiceAccountTokens([signer.public_key()], issuers=["https://iss"], audiences=["https://iss"],
                                  lookup=DictLookup(objects), clock=Clock())  # type: ignore[arg-type]
    tokens.signer = signer  # type: ignore[attr-defined]
    return tokens


async def test_service_account_claims_checked_on_every_use() -> None:
    now = 1_000_000.0
    objects: dict[tuple[str, str, str], dict[str, object]] = {
        ("serviceaccounts", "ns", "sa"): {"metadata": {"uid": "u1"}}}
    tokens = _sa_tokens(now, objects)
    claims = service_account_claims(issuer="https://iss", namespace="ns", name="sa", uid="u1",
                                    audiences=["https://iss"], now=int(now), expiration_seconds=600)
    token = tokens.signer.sign(claims)  # type: ignore[attr-defined]
    user = await tokens.authenticate_token(token)
    assert user is not None
    assert user.username == "system:serviceaccount:ns:sa"
    objects[("serviceaccounts", "ns", "sa")] = {"metadata": {"uid": "recreated"}}
    with pytest.raises(CredentialsRejected) as rejected:
        await tokens.authenticate_token(token)  # the verified signature is cached, the binding is not
    assert "UID" in rejected.value.why
    assert str(rejected.value) == "Unauthorized"
    assert await tokens.authenticate_token("not.a.jwt") is None
    other_issuer = TokenSigner(ec.generate_private_key(ec.SECP256R1()), issuer="https://elsewhere")
    assert await tokens.authenticate_token(other_issuer.sign({**claims, "iss": "https://elsewhere"})) is None


def test_apiserver_tls_flags(tmp_path: Path) -> None:
    parse = build_parser().parse_args
    cfg = config_from_args(parse(["apiserver", "--storage", "memory", "--data-dir", str(tmp_path),
                                  "--secure-port", "0", "--insecure-port", "0"]))
    assert (cfg.tls, cfg.port) == (None, 0)
    cfg = config_from_args(parse(["apiserver", "--storage", "memory", "--data-dir", str(tmp_path),
                                  "--insecure-port", "8080", "--anonymous-auth=false",
                                  "--service-account-issuer", "https://a", "--service-account-issuer", "https://b",
                                  "--api-audiences", "x,y", "--bind-address", "0.0.0.0"]))
    assert cfg.port == 6443
    assert cfg.insecure_port == 8080
    assert cfg.bind_address == "0.0.0.0"
    assert cfg.tls is not None
    assert cfg.tls.cert_file.exists()  # self-signed under <data-dir>/pki, as upstream's --cert-dir
    assert cfg.authentication is not None
    assert cfg.authentication.anonymous is False
    assert cfg.authentication.service_account_issuers == ("https://a", "https://b")
    assert cfg.authentication.api_audiences == ("x", "y")
    assert cfg.service_account_issuer == "https://a"
    served = load_cert(cfg.tls.cert_file)
    assert served.not_valid_after_utc > datetime.datetime.now(datetime.UTC)


def test_service_account_key_files_hold_public_or_private_keys_or_certificates(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    from sampan._lib.pki import cert_pem, key_pem

    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(65537, 2048)
    ca = CertificateAuthority.create()
    bundle = tmp_path / "keys.pem"
    bundle.write_bytes(key_pem(ec_key) + rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo) + cert_pem(ca.cert))
    keys = jws.load_public_keys(bundle)
    assert len(keys) == 3
    token = TokenSigner(rsa_key, issuer="i").sign({"iss": "i"})
    header, _, signing_input, signature = jws.parse(token)
    assert jws.verify(header, signing_input, signature, keys)
    (tmp_path / "empty.pem").write_text("nothing here\n")
    with pytest.raises(ValueError, match="holds no EC or RSA key"):
        jws.load_public_keys(tmp_path / "empty.pem")
