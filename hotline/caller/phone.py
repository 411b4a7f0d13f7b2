"""Caller numbers: parse every common written form, attribute the Yunnan prefecture, mask for display.

A `CallerNumber` never shows the number itself in ``repr`` or ``str``: only the masked form. The canonical
E.164 value is there for hashing and encryption (see `hotline.caller.privacy`), never for logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import phonenumbers
from phonenumbers import PhoneNumberType

from hotline.caller.prefectures import BY_AREA_CODE, Prefecture, from_place_name
from hotline.caller.regions import region_of
from hotline.errors import HotlineError
from hotline.logs import mask_digits

Kind = Literal["mobile", "landline", "withheld", "other"]

WITHHELD = frozenset({"", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld"})
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


class InvalidNumber(HotlineError):
    pass


@dataclass(frozen=True)
class CallerNumber:
    kind: Kind
    masked: str
    e164: str | None = field(repr=False)
    prefecture: Prefecture | None = None
    region: str | None = None  # geocoder description, e.g. 云南省昆明市, 北京市, 美国

    def __str__(self) -> str:
        return self.masked

    @property
    def in_yunnan(self) -> bool:
        return self.prefecture is not None


def _mask_national(nsn: str, area: str | None) -> str:
    if area:
        sub = nsn[len(area) - 1 :]
        return f"{area}-{'*' * (len(sub) - 4)}{sub[-4:]}"
    return mask_digits(nsn)


def _cn_landline_area(nsn: str) -> str:
    """The area code (with its leading 0) of a Chinese landline's national significant number."""
    if nsn.startswith("10") or nsn.startswith("2"):
        return "0" + nsn[:2]
    return "0" + nsn[:3]


def parse_caller(raw: str | None, default_region: str = "CN") -> CallerNumber:
    """Parse a caller number as it arrives in SIP (From/P-Asserted-Identity user part) or in a file.

    Accepts mobiles and landlines with or without +86, spaces, dashes or parentheses. Raises InvalidNumber
    (with the input masked) when the text is not a phone number.
    """
    text = (raw or "").strip()
    if text.lower() in WITHHELD:
        return CallerNumber(kind="withheld", masked="未显示号码", e164=None)
    cleaned = re.sub(r"[\s\-().]", "", text)
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    try:
        num = phonenumbers.parse(cleaned, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidNumber(
            f"caller number {mask_digits(text)!r} is not a phone number: expected a mobile such as "
            "139xxxx2345 or a landline with its area code such as 0871-6555xxxx"
        ) from None
    nsn = phonenumbers.national_significant_number(num)
    e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)

    if num.country_code != 86:
        if not phonenumbers.is_possible_number(num):
            raise InvalidNumber(f"caller number {mask_digits(text)!r} is not a possible international number")
        masked = f"+{num.country_code} " + mask_digits(nsn)
        return CallerNumber("other", masked, e164, None, _describe(num))

    if re.fullmatch(r"1[3-9]\d{9}", nsn):
        place = region_of(nsn)
        masked = nsn[:3] + "****" + nsn[-4:]
        return CallerNumber("mobile", masked, e164, from_place_name(place or ""), place)

    if (nsn[0] != "1" or nsn.startswith("10")) and 9 <= len(nsn) <= 11:
        # Landlines: the area code decides the prefecture. phonenumbers rejects some real short
        # subscriber numbers (7 digits in an 8-digit area), so a known Yunnan area code is trusted.
        area = _cn_landline_area(nsn)
        pref = BY_AREA_CODE.get(area)
        if pref is not None or phonenumbers.is_valid_number(num):
            place = pref.name if pref else _describe(num)
            region = f"云南省{pref.name}" if pref else place
            return CallerNumber("landline", _mask_national(nsn, area), e164, pref, region)

    if phonenumbers.is_valid_number(num):
        return CallerNumber("other", mask_digits(nsn), e164, None, None)
    raise InvalidNumber(
        f"caller number {mask_digits(text)!r} is not a valid Chinese number: expected an 11-digit mobile "
        "(1[3-9]…) or a landline with its area code (0871…)"
    )


def dial_string(e164: str) -> str:
    """What the service dials on a Chinese trunk to reach `e164`: mobiles as 11 digits, landlines with the
    trunk prefix 0 and the area code, other countries with the international prefix 00."""
    num = phonenumbers.parse(e164, None)
    nsn = phonenumbers.national_significant_number(num)
    if num.country_code != 86:
        return f"00{num.country_code}{nsn}"
    return nsn if nsn.startswith("1") else "0" + nsn


NEIGHBOURS = {"VN": "越南", "LA": "老挝", "MM": "缅甸"}  # Yunnan's border countries


def _describe(num: phonenumbers.PhoneNumber) -> str | None:
    """Place of a landline outside Yunnan (from the range index) or the country of a foreign number."""
    if num.country_code == 86:
        return region_of(phonenumbers.national_significant_number(num))
    code = phonenumbers.region_code_for_number(num)
    return NEIGHBOURS.get(code, code) if code else None
