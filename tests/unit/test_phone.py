import pytest

from hotline.caller.phone import InvalidNumber, parse_caller
from hotline.caller.prefectures import PREFECTURES
from hotline.logs import mask_digits, redact


@pytest.mark.parametrize(
    "raw",
    [
        "13908712345",
        "+86 139 0871 2345",
        "+8613908712345",
        "008613908712345",
        "139-0871-2345",
        "139 0871 2345",
    ],
)
def test_mobile_forms_give_one_canonical_number_in_kunming(raw: str) -> None:
    n = parse_caller(raw)
    assert n.kind == "mobile"
    assert n.e164 == "+8613908712345"
    assert n.masked == "139****2345"
    assert n.prefecture is not None and n.prefecture.name == "昆明市"


@pytest.mark.parametrize("raw", ["0871-65551234", "087165551234", "(0871) 6555 1234", "+86 871 6555 1234"])
def test_landline_forms_attribute_kunming(raw: str) -> None:
    n = parse_caller(raw)
    assert (n.kind, n.e164, n.masked) == ("landline", "+8687165551234", "0871-****1234")
    assert n.prefecture is not None and n.prefecture.code == "530100"


def test_seven_digit_subscriber_with_yunnan_area_code_is_accepted() -> None:
    n = parse_caller("+868716555123")
    assert n.kind == "landline"
    assert n.prefecture is not None and n.prefecture.area_code == "0871"
    assert n.masked == "0871-***5123"


@pytest.mark.parametrize("pref", PREFECTURES, ids=lambda p: p.area_code)
def test_every_prefecture_area_code_is_attributed(pref) -> None:  # type: ignore[no-untyped-def]
    n = parse_caller(f"{pref.area_code}-2123456")
    assert n.prefecture == pref


def test_mobile_from_another_province_is_handled_not_rejected() -> None:
    n = parse_caller("+8613812345678")
    assert n.kind == "mobile"
    assert n.prefecture is None
    assert n.region is not None and "江苏" in n.region


def test_landline_outside_yunnan() -> None:
    n = parse_caller("010-12345678")
    assert n.kind == "landline" and n.prefecture is None and n.masked == "010-****5678"


def test_foreign_number() -> None:
    n = parse_caller("+84 24 3825 3535")
    assert n.kind == "other" and n.masked.startswith("+84 ") and n.masked.endswith("3535")
    assert n.region == "越南"


def test_cells_do_not_load_the_geocoder() -> None:
    """A cell parses every caller; phonenumbers' geocoder would cost it about 100 MB."""
    import subprocess
    import sys

    code = (
        "import sys; from hotline.caller.phone import parse_caller; "
        "parse_caller('13908712345'); parse_caller('010-12345678'); parse_caller('+84 24 3825 3535'); "
        "print('phonenumbers.geocoder' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("raw", ["anonymous", "", None, "Unknown", "restricted"])
def test_withheld_numbers(raw: str | None) -> None:
    n = parse_caller(raw)
    assert n.kind == "withheld" and n.e164 is None


@pytest.mark.parametrize("raw", ["12348", "abc", "123", "1390871234", "23908712345678"])
def test_invalid_numbers_raise_without_the_number_in_the_message(raw: str) -> None:
    with pytest.raises(InvalidNumber) as err:
        parse_caller(raw)
    if len(raw) >= 8:
        assert raw not in str(err.value)


def test_repr_and_str_never_show_the_number() -> None:
    n = parse_caller("13908712345")
    assert "13908712345" not in repr(n)
    assert "13908712345" not in str(n)


def test_mask_digits() -> None:
    assert mask_digits("13908712345") == "139****2345"
    assert mask_digits("12") == "**"


def test_redact_masks_numbers_in_free_text_but_not_other_ids() -> None:
    text = "call from 13908712345 (+86 139 0871 2345), landline 0871-65551234, call-id 1234567890123456"
    out = redact(text)
    assert "13908712345" not in out and "0871 2345" not in out and "65551234" not in out
    assert "139****2345" in out and "0871-****1234" in out
    assert "1234567890123456" in out
