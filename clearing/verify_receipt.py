#!/usr/bin/env python3
"""Check a Fintech Sandbox payment receipt offline, with nothing but Python's standard library.

    python verify_receipt.py receipt.json

Copy this file together with ``verify_proof.py`` (same folder) anywhere; it imports nothing
from the sandbox. Ed25519 is verified in pure Python, following RFC 8032 (section 5.1.7,
the reference code of section 6): slow (tens of milliseconds a signature) and not
constant-time, which does not matter for checking public signatures. It checks, in order:

1. each key in ``jwks`` is an Ed25519 JWK whose ``kid`` is its RFC 7638 thumbprint
2. the request JWS: ``alg`` EdDSA, its type, signed by the key its ``kid`` names
3. the token JWS: the same, by the payer's key
4. the token is for this request: ``req`` = SHA-256 of the request JWS, the same request id,
   merchant, amount and currency
5. the transaction: the request's amount and currency, credited to the request's account,
   naming the request and the token (its metadata)
6. if the bundle holds a proof: ``verify_proof.verify`` checks it (leaf, audit path, Bitcoin
   anchor), and the anchored leaf is this transaction, naming this request and token

It prints one line per check and exits 0 only if all pass (1 otherwise, 2 if the file cannot
be read). A bundle without a proof verifies its signatures only, and says so. What it cannot
know offline is that the keys are the nodes' own: compare the ``kid`` values with the
nodes' published JWKS (``/jwks/nodes/<node id>.json``).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import sys
from decimal import Decimal
from types import ModuleType
from typing import Any


def _sibling(name: str) -> ModuleType:
    """``name``.py from this file's folder, wherever both were copied (``python -I`` puts
    no script folder on the path, and the sandbox's packages need not exist)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_fsbx_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is missing: copy it next to this file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


verify_proof = _sibling("verify_proof")

FORMAT = "fsbx-payment-receipt/1"
REQUEST_TYP = "fsbx.payment-request+jws"
TOKEN_TYP = "fsbx.payment-token+jws"
EXPONENTS = {"KRW": 0, "USD": 2, "JPY": 0, "BTC": 8}


class ReceiptInvalid(Exception):
    pass


# --- Ed25519 verification (RFC 8032) ------------------------------------------------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
Point = tuple[int, int, int, int]  # extended homogeneous coordinates (X, Y, Z, T)


def _recover_x(y: int, sign: int) -> int | None:
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def _add(p: Point, q: Point) -> Point:
    a = (p[1] - p[0]) * (q[1] - q[0]) % P
    b = (p[1] + p[0]) * (q[1] + q[0]) % P
    c = 2 * p[3] * q[3] * D % P
    d = 2 * p[2] * q[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _multiply(s: int, p: Point) -> Point:
    q: Point = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _equal(p: Point, q: Point) -> bool:
    return (p[0] * q[2] - q[0] * p[2]) % P == 0 and (p[1] * q[2] - q[1] * p[2]) % P == 0


def _decompress(data: bytes) -> Point | None:
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


_GY = 4 * pow(5, P - 2, P) % P
_GX = _recover_x(_GY, 0)
assert _GX is not None
G: Point = (_GX, _GY, 1, _GX * _GY % P)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 section 5.1.7 (cofactorless, as the reference code)."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % L
    return _equal(_multiply(s, G), _add(r, _multiply(h, a)))


# --- JOSE --------------------------------------------------------------------------------------


def b64u_decode(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise ReceiptInvalid(f"{what} is not base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise ReceiptInvalid(f"{what} is not base64url") from None


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(x: str) -> str:
    members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"))
    return b64u(hashlib.sha256(members.encode()).digest())


def check_jws(compact: Any, typ: str, keys: dict[str, bytes], what: str) -> tuple[dict, str]:
    if not isinstance(compact, str) or compact.count(".") != 2:
        raise ReceiptInvalid(f"the {what} is not a compact JWS")
    head, body, signature = compact.split(".")
    try:
        header = json.loads(b64u_decode(head, f"the {what}'s header"))
        payload = json.loads(b64u_decode(body, f"the {what}'s payload"))
    except ValueError:
        raise ReceiptInvalid(f"the {what}'s header or payload is not JSON") from None
    if header.get("alg") != "EdDSA" or header.get("typ") != typ:
        raise ReceiptInvalid(f'the {what} is not an EdDSA JWS of type "{typ}"')
    kid = header.get("kid")
    if kid not in keys:
        raise ReceiptInvalid(f"the {what}'s key {kid!r} is not in the bundle's jwks")
    message = f"{head}.{body}".encode("ascii")
    if not ed25519_verify(keys[kid], message, b64u_decode(signature, "a signature")):
        raise ReceiptInvalid(f"the {what}'s signature does not verify")
    return payload, kid


def minor_units(amount: Any, currency: Any) -> int:
    if not isinstance(amount, str) or currency not in EXPONENTS:
        raise ReceiptInvalid(f"cannot read the amount {amount!r} {currency!r}")
    return int(Decimal(amount).scaleb(EXPONENTS[currency]))


# --- The bundle ---------------------------------------------------------------------------------


def verify(doc: dict[str, Any]) -> list[str]:
    """Check ``doc``; return what was checked, or raise ``ReceiptInvalid`` at the first failure."""
    done: list[str] = []
    if doc.get("format") != FORMAT:
        raise ReceiptInvalid(f"unknown receipt format {doc.get('format')!r}")

    keys: dict[str, bytes] = {}
    owners: dict[str, Any] = {}
    for jwk in (doc.get("jwks") or {}).get("keys", []):
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise ReceiptInvalid("a key of the bundle is not an Ed25519 JWK")
        if thumbprint(jwk.get("x")) != jwk.get("kid"):
            raise ReceiptInvalid(f"key {jwk.get('kid')!r}: its kid is not its thumbprint")
        keys[jwk["kid"]] = b64u_decode(jwk["x"], "a key")
        owners[jwk["kid"]] = jwk.get("node_id")
    done.append(f"{len(keys)} Ed25519 keys, each kid its RFC 7638 thumbprint")

    request_jws = str(doc.get("request_jws"))
    request, request_kid = check_jws(request_jws, REQUEST_TYP, keys, "request")
    if owners.get(request_kid) not in (None, request.get("merchant")):
        raise ReceiptInvalid("the request is not signed by its merchant node's key")
    done.append(
        f"request {request.get('rid')} (order {request.get('order_id')!r}, "
        f"{request.get('amount')} {request.get('currency')}) signed by merchant key {request_kid}"
    )
    token_jws = str(doc.get("token_jws"))
    token, token_kid = check_jws(token_jws, TOKEN_TYP, keys, "token")
    if owners.get(token_kid) not in (None, token.get("payer")):
        raise ReceiptInvalid("the token is not signed by its payer node's key")
    done.append(f"token {token.get('jti')} signed by payer key {token_kid}")

    request_hash = b64u(hashlib.sha256(request_jws.encode("ascii")).digest())
    if token.get("req") != request_hash or token.get("rid") != request.get("rid"):
        raise ReceiptInvalid("the token authorizes another request")
    for field in ("merchant", "amount", "currency"):
        if token.get(field) != request.get(field):
            raise ReceiptInvalid(f"the token's {field} is not the request's")
    done.append(f"the token authorizes this request (hash {request_hash}), amount and merchant")

    txn = doc.get("transaction") or {}
    amount = minor_units(request["amount"], request["currency"])
    money = txn.get("amount") or {}
    if minor_units(money.get("amount"), money.get("currency")) != amount:
        raise ReceiptInvalid("the transaction moved another amount")
    if money.get("currency") != request["currency"]:
        raise ReceiptInvalid("the transaction moved another currency")
    credits = [e for e in txn.get("entries", []) if e.get("account_id") == request.get("account")]
    if len(credits) != 1 or minor_units(credits[0].get("amount"), request["currency"]) != amount:
        raise ReceiptInvalid("the transaction does not credit the request's account")
    token_hash = b64u(hashlib.sha256(token_jws.encode("ascii")).digest())
    metadata = txn.get("metadata") or {}
    if metadata.get("payment_request") != request["rid"] or metadata.get("token") != token_hash:
        raise ReceiptInvalid("the transaction names another request or token")
    done.append(f"transaction {txn.get('id')} pays it, naming the request and this token")

    proof = doc.get("proof")
    if proof is None:
        done.append(f"no inclusion proof yet ({doc.get('proof_status')}): signatures only")
        return done
    try:
        done.extend(verify_proof.verify(proof))
    except verify_proof.ProofInvalid as exc:
        raise ReceiptInvalid(f"the inclusion proof: {exc}") from None
    leaf = verify_proof.decode_leaf(bytes.fromhex(proof["leaf"]))
    if leaf["uuid"] != txn.get("id") or leaf["amount"] != amount:
        raise ReceiptInvalid("the anchored leaf is another transaction")
    anchored = leaf["metadata"]
    if anchored.get("payment_request") != request["rid"] or anchored.get("token") != token_hash:
        raise ReceiptInvalid("the anchored transaction names another request or token")
    done.append("the anchored leaf is this transaction, naming this request and token")
    return done


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {os.path.basename(argv[0])} receipt.json", file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as handle:
            doc = json.load(handle)
    except (OSError, ValueError) as exc:
        print(f"cannot read {argv[1]}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(doc, dict):
        print("FAIL: the receipt is not a JSON object")
        return 1
    try:
        lines = verify(doc)
    except (ReceiptInvalid, KeyError, TypeError, ValueError) as exc:
        print(f"FAIL {exc}")
        return 1
    for line in lines:
        print(f"ok   {line}")
    proven = doc.get("proof") is not None
    print("VALID: paid once, " + ("anchored." if proven else "signatures checked (no proof yet)."))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
