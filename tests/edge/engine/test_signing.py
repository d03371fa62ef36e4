"""Signed models (issue 14, finding 3): the pure-Python Ed25519 verifier against RFC 8032's
vectors and OpenSSL (through ``cryptography``), the signature trailer of a ``.ltcn`` file,
trust stores, and the gateway's policy (``ltcn detect`` runs only a model signed by a trusted
key unless told ``--allow-unsigned``)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import BOT_ENTIRE
from ltcn_kernels.engine import _ed25519 as ed
from ltcn_kernels.engine.artifact import read_artifact, sign_artifact, write_artifact
from ltcn_kernels.engine.signature import (
    MAX_KEY_FILE_BYTES,
    SIGNATURE_MAGIC,
    TRAILER_BYTES,
    TrustStore,
    UntrustedModelError,
    default_trust_paths,
    key_id,
    make_trailer,
    parse_public_keys,
    public_key_pem,
    signed_message,
)
from ltcn_kernels.errors import DataFormatError, UsageError
from ltcn_kernels.gateway import DetectOptions, run_detect
from ltcn_kernels.gateway.trust import trusted_model

# RFC 8032, section 7.1, TEST 1 and TEST 2: (secret, public, message, signature).
RFC8032 = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
]


@pytest.fixture(autouse=True)
def _umask_022():
    """Files and folders made here are not group-writable whatever the user's umask (002 on
    many desktops): a trust store that is gets refused (StrictModes)."""
    old = os.umask(0o022)
    yield
    os.umask(old)


class Key:
    """A signer for the tests (the training side's SigningKey, without a file)."""

    def __init__(self, seed: bytes | None = None):
        self.private = (Ed25519PrivateKey.from_private_bytes(seed) if seed is not None
                        else Ed25519PrivateKey.generate())
        self.public_key = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


def _flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


# ------------------------------------------------------------------ the verifier
@pytest.mark.parametrize("secret, public, message, signature", RFC8032)
def test_rfc8032_vectors_verify_and_their_alterations_do_not(secret, public, message, signature):
    pub, msg, sig = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    key = Key(bytes.fromhex(secret))  # the vector as transcribed is OpenSSL's too
    assert key.public_key == pub and key.sign(msg) == sig
    assert ed.verify(pub, msg, sig)
    assert not ed.verify(pub, msg + b"\0", sig)
    for bit in (0, 255, 256, 511):  # R's and S's first and last bits
        assert not ed.verify(pub, msg, _flip(sig, bit))
    assert not ed.verify(_flip(pub, 3), msg, sig)


@settings(max_examples=40, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=300),
       bit=st.integers(0, 511), where=st.sampled_from(["signature", "message", "key"]))
def test_verify_agrees_with_openssl(seed, message, bit, where):
    key = Key(seed)
    sig = key.sign(message)
    assert ed.verify(key.public_key, message, sig)
    pub = key.public_key
    if where == "signature":
        sig = _flip(sig, bit)
    elif where == "message":
        message = _flip(message, bit % (8 * len(message))) if message else b"x"
    else:
        pub = _flip(pub, bit % 256)
    try:  # the same question to OpenSSL
        Ed25519PublicKey.from_public_bytes(pub).verify(sig, message)
        openssl = True
    except (InvalidSignature, ValueError):
        openssl = False
    assert ed.verify(pub, message, sig) == openssl
    assert not openssl  # one changed bit never leaves a valid signature


def test_non_canonical_encodings_and_bad_lengths_are_refused():
    key = Key(bytes(32))
    sig = key.sign(b"m")
    s = int.from_bytes(sig[32:], "little")
    malleated = sig[:32] + (s + ed.L).to_bytes(32, "little")  # same point, S >= L
    assert ed.verify(key.public_key, b"m", sig) and not ed.verify(key.public_key, b"m", malleated)
    assert ed.decode_point((ed.P + 1).to_bytes(32, "little")) is None  # y >= p
    assert not ed.verify(key.public_key[:31], b"m", sig) and not ed.verify(key.public_key, b"m", sig[:63])
    off_curve = next(y for y in range(2, 100) if ed.decode_point(y.to_bytes(32, "little")) is None)
    assert not ed.verify(off_curve.to_bytes(32, "little"), b"m", sig)
    assert ed.encode_point(ed.BASE).hex() == "58" + "66" * 31  # the standard base point



# The 8 points whose order divides the cofactor 8 (libsodium's blocklist in
# crypto_core/ed25519/ref10, which compares y only: with both x signs where x != 0). A key
# among them "verifies" forged signatures: with R the neutral point and S = 0, the check
# [S]B = R + [k]A holds whenever [k]A is neutral, for the identity on every message.
SMALL_ORDER = [bytes.fromhex(y) for y in (
    "0100000000000000000000000000000000000000000000000000000000000000",  # the neutral point, order 1
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p - 1, order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # y = 0, order 4
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
)]
# Encodings of points that are not the canonical one (y >= p, or x = 0 with its sign bit set).
NON_CANONICAL = [bytes.fromhex(y) for y in (
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p: the point y = 0
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1: the neutral point
    "0100000000000000000000000000000000000000000000000000000000000080",  # the neutral point, x = -0
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  # y = p - 1, x = -0
)]
NEUTRAL = SMALL_ORDER[0]


def _forgery(public_key: bytes) -> tuple[bytes, bytes]:
    """A message and a signature (R the neutral point, S = 0) that a cofactorless check
    accepts for a small-order key: any message whose k = H(R, A, M) is a multiple of 8."""
    message = next(m for m in (f"any file {i}".encode() for i in range(10_000))
                   if int.from_bytes(hashlib.sha512(NEUTRAL + public_key + m).digest(), "little") % ed.L % 8 == 0)
    return message, NEUTRAL + bytes(32)


def test_small_order_and_non_canonical_keys_verify_nothing():
    assert all(ed.point_problem(p).startswith("a point of small order") for p in SMALL_ORDER)
    for point in NON_CANONICAL:
        assert ed.point_problem(point).startswith("a non-canonical encoding")
    for public_key in SMALL_ORDER + NON_CANONICAL:
        assert not ed.verify(public_key, *_forgery(public_key))
    assert ed.point_problem(Key().public_key) is None and ed.point_problem(bytes(31)) == "not 32 bytes"


def test_a_signature_whose_r_has_small_order_is_refused_even_from_the_keys_owner():
    """libsodium refuses a small-order R whatever the key: made here with the secret scalar."""
    seed = bytes(range(32))
    key, message = Key(seed), b"m"
    h = bytearray(hashlib.sha512(seed).digest()[:32])  # RFC 8032, 5.1.5: the clamped scalar
    h[0] &= 248
    h[31] = h[31] & 127 | 64
    k = int.from_bytes(hashlib.sha512(NEUTRAL + key.public_key + message).digest(), "little") % ed.L
    s = k * int.from_bytes(h, "little") % ed.L  # [S]B = [k]A, so R = [S]B - [k]A is neutral
    assert not ed.verify(key.public_key, message, NEUTRAL + s.to_bytes(32, "little"))
    assert ed.verify(key.public_key, message, key.sign(message))


# ------------------------------------------------------------------ the file
def _artifact(path: Path, signer=None) -> Path:
    rng = np.random.default_rng(0)
    write_artifact(path, {"note": "x"}, {"w": rng.standard_normal((8, 5)).astype(np.float32),
                                         "i": np.arange(7, dtype=np.uint16)}, signer=signer)
    return path


def test_a_signed_file_names_its_signer_and_an_unsigned_one_none(tmp_path):
    key = Key()
    signed, unsigned = _artifact(tmp_path / "s.ltcn", key), _artifact(tmp_path / "u.ltcn")
    data = signed.read_bytes()
    assert data[:-TRAILER_BYTES] == unsigned.read_bytes()  # signing never changes the model
    assert data[-TRAILER_BYTES:].startswith(SIGNATURE_MAGIC)
    a, b = read_artifact(signed), read_artifact(unsigned)
    assert a.signer == key.public_key and b.signer is None
    assert np.array_equal(a.arrays["w"], b.arrays["w"]) and a.manifest == b.manifest


@settings(max_examples=60, deadline=None)
@given(where=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_any_changed_bit_of_a_signed_file_is_refused(tmp_path_factory, where, bit):
    path = _artifact(tmp_path_factory.mktemp("flip") / "m.ltcn", Key(bytes(range(32))))
    data = bytearray(path.read_bytes())
    i = int(where * len(data))
    data[i] ^= 1 << bit
    path.write_bytes(bytes(data))
    with pytest.raises(DataFormatError) as err:
        read_artifact(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_a_changed_body_is_refused_before_its_manifest_is_parsed(tmp_path, monkeypatch):
    from ltcn_kernels.engine import artifact as A

    path = _artifact(tmp_path / "m.ltcn", Key())
    data = bytearray(path.read_bytes())
    data[100] ^= 1  # inside the manifest: its own checksum would catch it, but later
    path.write_bytes(bytes(data))
    monkeypatch.setattr(A, "parse_manifest", lambda text: pytest.fail("parsed an altered manifest"))
    with pytest.raises(DataFormatError, match=r"signature \(key ed25519:[0-9a-f]{16}\) does not verify"):
        read_artifact(path)


def test_stripping_or_replacing_the_signature_leaves_an_untrusted_model(tmp_path):
    owner, attacker = Key(), Key()
    path = _artifact(tmp_path / "m.ltcn", owner)
    store = TrustStore({owner.public_key: "owner.pub"}, ("owner.pub",))
    assert store.check(str(path), read_artifact(path).signer).startswith(f"signed by {key_id(owner.public_key)}")
    stripped = tmp_path / "stripped.ltcn"
    stripped.write_bytes(path.read_bytes()[:-TRAILER_BYTES])
    with pytest.raises(UntrustedModelError, match="not signed"):
        store.check(str(stripped), read_artifact(stripped).signer)
    sign_artifact(stripped, attacker)  # the attacker re-signs the file with their own key
    with pytest.raises(UntrustedModelError, match=f"signed by {key_id(attacker.public_key)}, which is not"):
        store.check(str(stripped), read_artifact(stripped).signer)
    cut = tmp_path / "cut.ltcn"
    cut.write_bytes(path.read_bytes()[:-1])  # a damaged trailer: refused, not taken as unsigned
    with pytest.raises(DataFormatError, match="truncated, padded or a damaged signature"):
        read_artifact(cut)


def test_sign_artifact_replaces_a_signature_and_never_signs_a_damaged_file(tmp_path):
    first, second = Key(), Key()
    path = _artifact(tmp_path / "m.ltcn", first)
    size = path.stat().st_size
    assert sign_artifact(path, second).signer == second.public_key and path.stat().st_size == size
    data = bytearray(path.read_bytes())
    data[-TRAILER_BYTES - 1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(DataFormatError, match="does not verify"):
        sign_artifact(path, first)
    assert path.read_bytes() == bytes(data)  # left as it was


# ------------------------------------------------------------------ keys and trust stores
def test_trust_stores_read_pem_files_and_folders_and_name_bad_ones(tmp_path):
    keys = [Key().public_key for _ in range(3)]
    (tmp_path / "one.pem").write_text(public_key_pem(keys[0]) + "\n" + public_key_pem(keys[1]))
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "k.pub").write_text(public_key_pem(keys[2]))
    (folder / "README").write_text("not a key, not read")
    store = TrustStore.load([tmp_path / "one.pem", folder])
    assert set(store.keys) == set(keys) and store.keys[keys[2]] == str(folder / "k.pub")
    assert parse_public_keys(public_key_pem(keys[0]).encode(), "x") == [keys[0]]
    private = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    bad = {b"": "no PEM public key found", b"hello\n" + private: r":2:1: a PRIVATE key",
           public_key_pem(keys[0]).replace("MCow", "MCo!").encode(): "bad base64",
           b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n": "a CERTIFICATE block"}
    for text, message in bad.items():
        (folder / "k.pub").write_bytes(text)
        with pytest.raises(DataFormatError, match=message):
            TrustStore.load([folder])
    with pytest.raises(UsageError, match="no such trusted-keys file"):
        TrustStore.load([tmp_path / "missing"])
    assert default_trust_paths()[0] == Path("/etc/ltcn/trusted-keys")


def test_small_order_keys_are_refused_in_trust_stores_and_as_signers(tmp_path, capsys):
    from ltcn_kernels.cli import main

    for public_key in SMALL_ORDER + NON_CANONICAL:
        (tmp_path / "k.pub").write_text(public_key_pem(public_key))
        with pytest.raises(DataFormatError, match=r"k\.pub:1:1: not a valid Ed25519 public key: a "
                           r"(point of small order|non-canonical encoding)"):
            TrustStore.load([tmp_path / "k.pub"])
    # A forgery over an arbitrary file: the neutral key, R neutral and S = 0.
    forged = _artifact(tmp_path / "forged.ltcn")
    message = signed_message(hashlib.sha512(forged.read_bytes()).digest())
    forged.write_bytes(forged.read_bytes() + make_trailer(NEUTRAL, NEUTRAL + bytes(32)))
    assert _forgery(NEUTRAL)[1] == NEUTRAL + bytes(32) and not ed.verify(NEUTRAL, message, NEUTRAL + bytes(32))
    with pytest.raises(DataFormatError, match=r"the signature's key \(ed25519:[0-9a-f]{16}\) is not a "
                       "valid Ed25519 public key: a point of small order"):
        read_artifact(forged)
    (tmp_path / "k.pub").write_text(public_key_pem(Key().public_key))
    assert main(["verify", str(forged), "--trusted-keys", str(tmp_path / "k.pub")]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert not captured.out and len(err) == 1 and "Traceback" not in err[0]
    assert err[0].startswith(f"ltcn: error: {forged}: the signature's key") and "small order" in err[0]


def test_a_mib_of_pem_like_text_is_read_in_one_pass(tmp_path):
    """The key-file cap (1 MiB) of the shapes a backtracking PEM pattern took the square of
    the size on (108 kB of BEGIN lines: 16 s): refused or read in well under a second each."""
    mib = MAX_KEY_FILE_BYTES
    begin, good = b"-----BEGIN PUBLIC KEY-----", public_key_pem(Key().public_key).encode()
    shapes = {
        "begin lines": ((begin + b"\n") * mib)[:mib],
        "blanks": (begin + b" " * mib)[:mib],
        "blanks, another END": (begin + b" " * mib)[: mib - 20] + b"-----END X-----",
        "labels": b"".join(b"-----BEGIN %s-----\n" % (b"A" * (i % 60 + 1)) for i in range(mib // 50)),
        "one key, repeated": good * (mib // len(good)),
    }
    for name, text in shapes.items():
        path = tmp_path / "k.pem"
        path.write_bytes(text)
        start = time.perf_counter()
        try:
            store = TrustStore.load([path])
            assert name == "one key, repeated" and len(store.keys) == 1
        except DataFormatError as err:
            assert "block with no -----END" in str(err) and "\n" not in str(err), name
        assert time.perf_counter() - start < 2, name


def _trust_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A trust folder as keygen makes it (0755, key 0644), whatever the umask."""
    folder = tmp_path / "trusted-keys"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    key = folder / "k.pub"
    key.write_text(public_key_pem(Key().public_key))
    key.chmod(0o644)
    return folder, key


def _refused(paths, *fragments: str) -> None:
    with pytest.raises(UsageError) as err:
        TrustStore.load(paths)
    message = str(err.value)
    assert "\n" not in message and all(f in message for f in fragments), message


def test_trust_stores_are_refused_when_others_could_change_them(tmp_path):
    """sshd's StrictModes, for keys: a writable-by-others, foreign-owned or symlinked key
    file or folder could hold a key an attacker put there."""
    folder, key = _trust_folder(tmp_path)
    assert len(TrustStore.load([folder]).keys) == 1 and len(TrustStore.load([key]).keys) == 1
    for mode, who in ((0o775, "group"), (0o757, "world"), (0o777, "group")):
        folder.chmod(mode)
        _refused([folder], str(folder), f"folder is {who}", f"chmod go-w {folder}")
    folder.chmod(0o755)
    key.chmod(0o666)
    _refused([folder], str(key), "file is group", f"chmod go-w {key}")
    _refused([key], str(key), "file is group", f"chmod go-w {key}")
    key.chmod(0o644)
    elsewhere = tmp_path / "elsewhere.pem"
    elsewhere.write_text(public_key_pem(Key().public_key))
    link = folder / "link.pub"
    link.symlink_to(elsewhere)  # a symlink inside the folder
    _refused([folder], str(link), "a symbolic link", "replace it with the file")
    link.unlink()
    link = tmp_path / "link.pem"
    link.symlink_to(key)  # a symlinked key file, given as such
    _refused([link], str(link), "a symbolic link", "replace it with the file")
    fifo = tmp_path / "fifo.pem"
    os.mkfifo(fifo)  # never blocks: refused before it is read
    _refused([fifo], str(fifo), "not a regular file")
    if os.geteuid() == 0:  # only root can give a file away
        os.chown(key, 65534, -1)
        _refused([folder], str(key), "owned by uid 65534", f"chown root {key}")
        os.chown(key, 0, -1)
        os.chown(folder, 65534, -1)
        _refused([folder], str(folder), "owned by uid 65534", f"chown root {folder}")


def test_detect_and_verify_say_in_one_line_why_a_trust_store_is_refused(bot_window_model, tmp_path, capsys):
    from ltcn_kernels.cli import main

    folder, _ = _trust_folder(tmp_path)
    folder.chmod(0o777)
    assert main(["verify", str(bot_window_model), "--trusted-keys", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"ltcn: error: {folder}: ") and "chmod go-w" in err[0]
    code, err = _detect(bot_window_model, capsys, "--trusted-keys", str(folder))
    assert code == 2 and len(err) == 1 and "world-writable" in err[0] and "Traceback" not in err[0]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_keys_made_by_openssl_sign_and_verify(tmp_path):
    from ltcn_jax.signing import load_key

    private, public = tmp_path / "k.pem", tmp_path / "k.pub"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(private)], check=True)
    subprocess.run(["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)], check=True)
    key = load_key(private)
    assert TrustStore.load([public]).keys.keys() == {key.public_key}
    path = _artifact(tmp_path / "m.ltcn", key)
    assert trusted_model(path, (str(public),))[1].startswith(f"signed by {key.key_id}, trusted by {public}")


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(tmp_path, capsys, monkeypatch):
    from ltcn_jax.signing import load_key
    from ltcn_kernels.cli import main

    monkeypatch.setenv("LTCN_CONFIG_DIR", str(tmp_path / "config"))
    key = tmp_path / "keys" / "site.pem"
    assert main(["keygen", "--out", str(key)]) == 0
    out = capsys.readouterr().out
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and Path(f"{key}.pub").is_file()
    pub = load_key(key).public_key
    assert TrustStore.load().keys.get(pub, "").startswith(str(tmp_path / "config" / "trusted-keys"))
    assert f"/etc/ltcn/trusted-keys/{key_id(pub)[8:]}.pub" in out
    assert main(["keygen", "--out", str(key)]) == 2
    assert "already exists; a signing key is never overwritten" in capsys.readouterr().err
    (tmp_path / "rsa.pem").write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(UsageError, match=r"rsa\.pem: not a PEM private key"):
        load_key(tmp_path / "rsa.pem")


# ------------------------------------------------------------------ the gateway's policy
def _detect(model, capsys, *extra) -> tuple[int, list[str]]:
    from ltcn_kernels.cli import main

    code = main(["detect", "--model", str(model), "--source", str(BOT_ENTIRE), "--stats-every", "0",
                 "--alerts", os.devnull, *extra])
    return code, capsys.readouterr().err.strip().splitlines()


def test_detect_runs_only_a_model_signed_by_a_trusted_key(bot_window_model, tmp_path, capsys):
    code, err = _detect(bot_window_model, capsys)  # exported: signed by this session's key
    assert code == 0 and " signed by ed25519:" in err[0] and ", trusted by " in err[0]
    unsigned = tmp_path / "unsigned.ltcn"
    unsigned.write_bytes(bot_window_model.read_bytes()[:-TRAILER_BYTES])
    code, err = _detect(unsigned, capsys)
    assert code == 2 and len(err) == 1 and "Traceback" not in err[0]
    assert err[0].startswith(f"ltcn: error: {unsigned}: the model is not signed") and err[0].endswith("--allow-unsigned")
    code, err = _detect(unsigned, capsys, "--allow-unsigned")
    assert code == 0 and err[0] == f"ltcn detect: model {unsigned}: unsigned (accepted: --allow-unsigned)"
    stranger = tmp_path / "stranger.ltcn"
    shutil.copy(unsigned, stranger)
    sign_artifact(stranger, Key())
    code, err = _detect(stranger, capsys)
    assert code == 2 and "which is not a trusted key" in err[0]
    elsewhere = tmp_path / "trusted"
    elsewhere.mkdir()  # an explicit, empty trust store: the session's own key is not in it
    code, err = _detect(bot_window_model, capsys, "--trusted-keys", str(elsewhere))
    assert code == 2 and f"(none in {elsewhere} is)" in err[0]
    with pytest.raises(UntrustedModelError):
        run_detect(unsigned, DetectOptions(str(BOT_ENTIRE), stats_every=0), out=io.StringIO(), err=io.StringIO())


def test_verify_command_exit_codes(bot_window_model, tmp_path, capsys):
    from ltcn_kernels.cli import main

    assert main(["verify", str(bot_window_model)]) == 0
    assert ": signed by ed25519:" in capsys.readouterr().out
    unsigned = tmp_path / "u.ltcn"
    unsigned.write_bytes(bot_window_model.read_bytes()[:-TRAILER_BYTES])
    assert main(["verify", str(unsigned)]) == 1
    assert "NOT TRUSTED: the model is not signed" in capsys.readouterr().out
    altered = bytearray(bot_window_model.read_bytes())
    altered[len(altered) // 2] ^= 4
    unsigned.write_bytes(bytes(altered))
    assert main(["verify", str(unsigned)]) == 2
    assert "does not verify: the file was altered after it was signed" in capsys.readouterr().err


def test_the_default_key_is_made_once_private_and_trusted_here(tmp_path, monkeypatch):
    from ltcn_jax import signing

    monkeypatch.setenv("LTCN_CONFIG_DIR", str(tmp_path / "fresh"))
    err = io.StringIO()
    key = signing.default_signer(err=err)  # created on first use, with a notice ...
    assert f"created signing key {tmp_path / 'fresh' / 'signing-key.pem'} ({key.key_id})" in err.getvalue()
    again = io.StringIO()
    assert signing.default_signer(err=again).public_key == key.public_key and not again.getvalue()
    assert stat.S_IMODE(Path(key.path).stat().st_mode) == 0o600
    assert key.public_key in TrustStore.load().keys
    monkeypatch.setenv("LTCN_SIGNING_KEY", str(tmp_path / "elsewhere.pem"))
    assert signing.default_key_path() == tmp_path / "elsewhere.pem"


def test_the_reversed_classes_attack_is_refused(bot_window_model, tmp_path):
    """The probe's attack: reverse the class names and recompute every checksum. The file is
    well formed, so it still loads, but it is no longer signed by anyone we trust."""
    import fuzz_reliability as fuzz

    classes = read_artifact(bot_window_model).manifest["classes"]
    forged = tmp_path / "forged.ltcn"
    forged.write_bytes(fuzz.rehash(bot_window_model.read_bytes(), (["classes"], classes[::-1])))
    artifact = read_artifact(forged)
    assert artifact.manifest["classes"] == classes[::-1] and artifact.signer is None
    with pytest.raises(UntrustedModelError, match="not signed"):
        trusted_model(forged)
    attacker = Key()  # re-signed by the attacker: still refused
    sign_artifact(forged, attacker)
    with pytest.raises(UntrustedModelError, match="which is not a trusted key"):
        trusted_model(forged)
