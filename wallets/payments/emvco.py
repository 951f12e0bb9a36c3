"""EMVCo merchant-presented QR payloads (EMV QRCPS Merchant-Presented Mode v1.1).

A payload is a string of TLV data objects: a two-digit ID, a two-digit length, the value.
Ours carries, in order: ``00`` payload format indicator ``01``; ``01`` point of initiation
``12`` (dynamic: one payment); ``26`` a merchant account template whose ``00`` is our
globally unique identifier and ``25`` the URL that serves the signed request (as Pix does);
``52`` merchant category code; ``53`` ISO 4217 numeric currency; ``54`` amount; ``58``
country; ``59`` merchant name; ``60`` city; ``62`` additional data with ``05`` the reference
label (the order id, when it fits); ``63`` the CRC-16/CCITT-FALSE (polynomial 0x1021, initial
0xFFFF) of everything before its value, ``6304`` included, as four upper-case hex digits.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

GUI = "ORG.FSBX.PAY"
MERCHANT_TEMPLATE = "26"
URL_TAG = "25"
DEFAULT_MCC = "5999"  # miscellaneous retail
NUMERIC_CURRENCY = {"KRW": "410", "USD": "840", "JPY": "392"}
CURRENCY_OF_NUMERIC = {v: k for k, v in NUMERIC_CURRENCY.items()}
CITY = {"KR": "SEOUL", "US": "NEW YORK", "JP": "TOKYO"}
_PRINTABLE = re.compile(r"[\x20-\x7e]*")


class QrError(ValueError):
    """A payload that is not a well-formed EMVCo QR of ours; ``code`` is machine-readable."""

    def __init__(self, message: str, code: str = "invalid_qr_payload") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def tlv(tag: str, value: str) -> str:
    if len(value) > 99 or not value:
        raise QrError(f"Data object {tag} must hold 1 to 99 characters, not {len(value)}.")
    return f"{tag}{len(value):02d}{value}"


def ascii_text(value: str, limit: int) -> str:
    """Printable ASCII (accents dropped, the rest replaced), at most ``limit`` characters."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    cleaned = "".join(c if " " <= c <= "~" else " " for c in folded).strip()
    return cleaned[:limit] or "MERCHANT"


@dataclass(frozen=True)
class QrData:
    url: str
    currency: str
    amount: str
    country: str
    merchant_name: str
    city: str
    reference: str | None


def payload(
    *,
    url: str,
    currency: str,
    amount: str,
    country: str,
    merchant_name: str,
    reference: str | None,
    mcc: str = DEFAULT_MCC,
) -> str:
    """The payload of a dynamic QR for one payment request."""
    if currency not in NUMERIC_CURRENCY:
        raise QrError(
            f"{currency} has no ISO 4217 numeric code for a QR.", "currency_not_supported"
        )
    if len(amount) > 13:
        raise QrError("The amount is too long for a QR (13 characters).", "amount_too_large")
    body = "".join(
        [
            tlv("00", "01"),
            tlv("01", "12"),
            tlv(MERCHANT_TEMPLATE, tlv("00", GUI) + tlv(URL_TAG, url)),
            tlv("52", mcc),
            tlv("53", NUMERIC_CURRENCY[currency]),
            tlv("54", amount),
            tlv("58", country),
            tlv("59", ascii_text(merchant_name, 25)),
            tlv("60", CITY.get(country, "UNKNOWN")),
        ]
    )
    if reference is not None and 0 < len(reference) <= 25 and _PRINTABLE.fullmatch(reference):
        body += tlv("62", tlv("05", reference))
    body += "6304"
    return body + f"{crc16(body.encode('ascii')):04X}"


def parse_tlv(text: str) -> list[tuple[str, str]]:
    """The data objects of a TLV string, in order; refuses anything malformed."""
    objects: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        header = text[position : position + 4]
        if len(header) < 4 or not header.isdigit() or not header.isascii():
            raise QrError(f"No data object header at position {position}.")
        length = int(header[2:])
        value = text[position + 4 : position + 4 + length]
        if len(value) != length or length == 0:
            raise QrError(f"Data object {header[:2]} is cut short.")
        objects.append((header[:2], value))
        position += 4 + length
    return objects


def parse(text: object) -> QrData:
    """Decode and check a payload of ours: TLV shape, CRC, the mandatory objects."""
    if not isinstance(text, str) or not text.isascii() or not _PRINTABLE.fullmatch(text):
        raise QrError("A QR payload is a string of printable ASCII characters.")
    if len(text) > 512:
        raise QrError("A QR payload has at most 512 characters.")
    if len(text) < 8 or text[-8:-4] != "6304":
        raise QrError("The payload does not end with its CRC (data object 63).")
    if f"{crc16(text[:-4].encode('ascii')):04X}" != text[-4:].upper():
        raise QrError(
            "The payload's CRC does not match: it was changed or mistyped.", "qr_crc_mismatch"
        )
    objects = parse_tlv(text)
    tags = [tag for tag, _ in objects]
    if tags[0] != "00" or objects[0][1] != "01":
        raise QrError('The payload must start with the payload format indicator "000201".')
    if tags[-1] != "63":
        raise QrError("The CRC must be the last data object.")
    if len(set(tags)) != len(tags):
        raise QrError("A data object appears twice.")
    found = dict(objects)
    if found.get("01") != "12":
        raise QrError('Only dynamic QRs (point of initiation "12") carry a payment request.')
    for tag in ("52", "53", "54", "58", "59", "60", MERCHANT_TEMPLATE):
        if tag not in found:
            raise QrError(f"The mandatory data object {tag} is missing.")
    template = dict(parse_tlv(found[MERCHANT_TEMPLATE]))
    if template.get("00") != GUI or URL_TAG not in template:
        raise QrError(f"The merchant account template is not a {GUI} one.")
    currency = CURRENCY_OF_NUMERIC.get(found["53"])
    if currency is None:
        raise QrError(f"Unknown currency {found['53']!r} in the QR.")
    reference = dict(parse_tlv(found["62"])).get("05") if "62" in found else None
    return QrData(
        url=template[URL_TAG],
        currency=currency,
        amount=found["54"],
        country=found["58"],
        merchant_name=found["59"],
        city=found["60"],
        reference=reference,
    )
