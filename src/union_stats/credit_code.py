"""统一社会信用代码 (GB 32100-2015): check characters, validation and synthetic codes for sample workbooks.

The code's 9-character subject identifier (positions 9-17) is an organization code under GB 11714-1997
and carries its own check character, which `is_valid` checks as well.
"""

from __future__ import annotations

import random

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # I, O, S, V and Z are left out so codes survive handwriting
CODE_LENGTH = 18
# GB 32100-2015: the weight of position i (0-based) is 3^i mod 31
WEIGHTS = tuple(pow(3, position, 31) for position in range(CODE_LENGTH - 1))

# GB 11714-1997 reads the organization code's body over digits and all 26 letters (A = 10 ... Z = 35)
ORGANIZATION_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ORGANIZATION_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
ORGANIZATION_SLICE = slice(8, 17)

# registration authority 9 (market regulation) + category 1 (enterprise): what a company's code starts with
ENTERPRISE_PREFIX = "91"
PANYU_DIVISION = "440113"


def check_character(first17: str) -> str:
    """The 18th character for the first 17 characters of a code."""
    if len(first17) != CODE_LENGTH - 1 or any(character not in CHARSET for character in first17):
        raise ValueError(f"统一社会信用代码前17位应为字符集 {CHARSET} 中的17个字符，收到：{first17!r}")
    total = sum(CHARSET.index(character) * weight for character, weight in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def organization_check_character(body8: str) -> str:
    """The 9th character of a GB 11714 organization code for its first 8 characters."""
    if len(body8) != 8 or any(character not in ORGANIZATION_CHARSET for character in body8):
        raise ValueError(f"组织机构代码本体应为8位数字或大写字母，收到：{body8!r}")
    total = sum(
        ORGANIZATION_CHARSET.index(character) * weight
        for character, weight in zip(body8, ORGANIZATION_WEIGHTS, strict=True)
    )
    remainder = 11 - total % 11
    return {10: "X", 11: "0"}.get(remainder, str(remainder))


def is_valid(code: str) -> bool:
    """True when `code` is 18 characters of the charset with correct GB 32100 and GB 11714 check characters."""
    if not isinstance(code, str) or len(code) != CODE_LENGTH or any(character not in CHARSET for character in code):
        return False
    if check_character(code[:-1]) != code[-1]:
        return False
    organization_code = code[ORGANIZATION_SLICE]
    return organization_check_character(organization_code[:-1]) == organization_code[-1]


def make_code(rng: random.Random, division: str = PANYU_DIVISION) -> str:
    """A valid, random enterprise code registered in `division` (a 6-digit GB/T 2260 code)."""
    if len(division) != 6 or not division.isdigit():
        raise ValueError(f"行政区划码应为6位数字，收到：{division!r}")
    # codes issued since 2015 carry an "MA…" subject identifier; older ones reuse the numeric organization code
    if rng.random() < 0.6:
        body = "MA" + "".join(rng.choice(CHARSET) for _ in range(6))
    else:
        body = "".join(rng.choice("0123456789") for _ in range(8))
    first17 = ENTERPRISE_PREFIX + division + body + organization_check_character(body)
    return first17 + check_character(first17)
