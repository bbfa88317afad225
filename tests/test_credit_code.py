"""统一社会信用代码: check characters, validation, and the synthetic codes of the sample workbooks."""

from __future__ import annotations

import random

import pytest

from union_stats import credit_code

# published registrations of two well-known Shenzhen companies (华为技术有限公司, 腾讯科技（深圳）有限公司)
REAL_CODES = ("914403001922038216", "9144030071526726XG")


def test_charset_leaves_out_ambiguous_letters() -> None:
    assert len(credit_code.CHARSET) == 31
    assert not set("IOSVZ") & set(credit_code.CHARSET)
    assert credit_code.WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_valid(code: str) -> None:
    assert credit_code.check_character(code[:17]) == code[17]
    assert credit_code.is_valid(code)


def test_organization_check_character_maps_ten_to_x() -> None:
    # 腾讯's organization code is 71526726-X: the GB 11714 remainder 10 is written X
    assert credit_code.organization_check_character("71526726") == "X"


def test_made_codes_are_valid_distinct_and_in_panyu() -> None:
    rng = random.Random(7)
    codes = [credit_code.make_code(rng) for _ in range(500)]
    assert all(credit_code.is_valid(code) for code in codes)
    assert all(code.startswith("91440113") for code in codes)
    assert len(set(codes)) == len(codes)
    assert credit_code.make_code(random.Random(1), "440106").startswith("91440106")


def test_a_wrong_check_character_is_invalid() -> None:
    code = credit_code.make_code(random.Random(3))
    for wrong in credit_code.CHARSET.replace(code[17], ""):
        assert not credit_code.is_valid(code[:17] + wrong)


def test_a_wrong_organization_check_character_is_invalid_even_with_a_matching_18th() -> None:
    code = credit_code.make_code(random.Random(5))
    wrong = "1" if code[16] != "1" else "2"
    first17 = code[:16] + wrong
    assert not credit_code.is_valid(first17 + credit_code.check_character(first17))


@pytest.mark.parametrize(
    "code",
    [
        "",
        "91440113MA59X1234",  # 17 characters
        "91440113ma59x1234a",  # lower case
        "91440113MA59O12340",  # O is not in the charset
        REAL_CODES[0] + "0",  # 19 characters
        None,
        914403001922038216,  # a number, as Excel would store it
    ],
)
def test_malformed_codes_are_invalid(code: object) -> None:
    assert not credit_code.is_valid(code)  # type: ignore[arg-type]
