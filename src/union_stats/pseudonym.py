"""Personal data at the door: ID numbers become keyed hashes, names and numbers never go further in clear.

The parse stage is the only stage that sees a beneficiary's name and 身份证号 (national ID number). It keeps:

- `person_key`: HMAC-SHA256 of the normalised ID number under the warehouse's secret key, so the same person
  has the same key in every file, unit and period, and nobody without the key can go back to the number;
- the verdict of the number's own checks (`id_check`), and the derived birth year and sex;
- for the clerk's own report and annotated copy, a masked form (`4401**********123X`, `张**`).

The key comes from the environment (`UNION_STATS_PSEUDONYM_KEY`) or from the key file `pseudonym.key` beside the
warehouse, created on first use readable by its owner only. The warehouse records the key's fingerprint (an
HMAC of a fixed text, not the key) and refuses a run under another key: keys made under a lost key can never be
matched again, and a silent new key would count every person twice.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from stdnum.cn import ric

from union_stats.paths import make_secret_file

KEY_ENV = "UNION_STATS_PSEUDONYM_KEY"
KEY_FILE = "pseudonym.key"
MIN_KEY_CHARACTERS = 32
FINGERPRINT_TEXT = b"union-stats pseudonym key fingerprint v1"

# verdicts of an ID number's own checks (`id_check`), each a rule of the beneficiary sheet
ID_OK = "ok"
ID_FORMAT = "format"  # not 17 digits and a digit or X
ID_CHECK_DIGIT = "check_digit"  # GB 11643 MOD 11-2
ID_BIRTH_DATE = "birth_date"  # the birth date inside is no real date
ID_FUTURE = "future"  # born after the period ends
ID_NUMBER_CELL = "number_cell"  # typed into a number cell: Excel kept 15 digits, whatever the rest says

# an ID number inside free text (a remark): 6-digit region, a birth date from 1900, sequence, check character
ID_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z])[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]"
    r"(?![0-9A-Za-z])"
)


class PseudonymKeyError(RuntimeError):
    """The pseudonymisation key is missing, unsafe, or not the one the warehouse's keys were made with."""


@dataclass(frozen=True)
class Person:
    """What is kept of one ID number."""

    person_key: str | None
    id_check: str
    birth_year: str | None
    sex: str | None
    masked: str


class Pseudonymiser:
    """Keyed hashes under one secret key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def ephemeral(cls) -> Pseudonymiser:
        """A key that lives as long as this process: for a clerk's self-check, which compares rows of the files
        it is given with each other and with nothing stored."""
        return cls(secrets.token_bytes(32))

    @property
    def fingerprint(self) -> str:
        """Names the key without revealing it: stored in the warehouse to catch a run under another key."""
        return hmac.new(self._key, FINGERPRINT_TEXT, hashlib.sha256).hexdigest()[:16]

    def key_of(self, id_number: str) -> str:
        return hmac.new(self._key, id_number.encode("utf-8"), hashlib.sha256).hexdigest()

    def person(self, text: str, born_by: date) -> Person:
        """An ID number's verdict, key and derived attributes; `born_by` is the last day a birth may fall on."""
        number = normalise_id(text)
        masked = mask_id(number)
        if not re.fullmatch(r"[0-9]{17}[0-9X]", number):
            return Person(None, ID_FORMAT, None, None, masked)
        key = self.key_of(number)
        if number[-1] != ric.calc_check_digit(number):
            return Person(key, ID_CHECK_DIGIT, None, None, masked)
        try:
            born = ric.get_birth_date(number)
        except Exception:  # stdnum's InvalidComponent: no such day
            return Person(key, ID_BIRTH_DATE, None, None, masked)
        sex = "男" if int(number[16]) % 2 else "女"
        verdict = ID_FUTURE if born > born_by else ID_OK
        return Person(key, verdict, str(born.year), sex, masked)


def normalise_id(text: str) -> str:
    """An ID number as compared: full-width to half-width, no spaces or separators, upper-case X."""
    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", str(text))).upper()


def mask_id(text: str) -> str:
    """The form a clerk may see: `4401**********123X` (first and last four kept of 18); a shorter text keeps
    less, so that a mistyped number is still recognisable to its clerk but never readable."""
    number = normalise_id(text)
    keep = 4 if len(number) >= 12 else 1 if len(number) >= 4 else 0
    if keep == 0:
        return "*" * len(number)
    return number[:keep] + "*" * (len(number) - 2 * keep) + number[-keep:]


def mask_name(text: str) -> str:
    """A name as a clerk may see it: its first character, then `**` whatever its length (`张**`)."""
    name = str(text).strip()
    return f"{name[:1]}**" if name else name


def mask(kind: str, text: str) -> str:
    """A personal cell of `kind` (a column's `personal`: "name" or "id_number") as a clerk may see it."""
    return mask_id(text) if kind == "id_number" else mask_name(text)


# the same inside free text as people write it there: spaced in groups (440199 19940829 818X), with dashes, dots or
# slashes, in full-width digits; exactly 18 characters between non-digits, checked for the ID's shape once joined
ID_SEPARATOR = r"[ \t\u00a0\u3000\-－—–_.·/,，、]{0,2}"
ID_DIGIT = "[0-9０-９]"
ID_SPACED = re.compile(
    rf"(?<![0-9０-９A-Za-zＡ-Ｚａ-ｚ]){ID_DIGIT}(?:{ID_SEPARATOR}{ID_DIGIT}){{16}}{ID_SEPARATOR}[0-9０-９XxＸｘ]"
    r"(?![0-9０-９A-Za-zＡ-Ｚａ-ｚ])"
)
DIGITS_OF_AN_ID = 17


def scrub_ids(text: str) -> str:
    """Free text with every ID number inside masked, however it is spaced or separated: a remark is no place for
    one."""
    if sum(character.isdigit() for character in text) < DIGITS_OF_AN_ID:
        return text

    def masked(matched: re.Match) -> str:
        number = normalise_id(re.sub(ID_SEPARATOR, "", matched.group(0)))
        return mask_id(number) if ID_IN_TEXT.fullmatch(number) else matched.group(0)

    return ID_SPACED.sub(masked, text)


def names_pattern(names: Iterable[str]) -> re.Pattern | None:
    """The names listed on beneficiary sheets as one pattern, longest first (张伟明 before 张伟); a name of one
    character says too little to look for. None when there is none."""
    listed = {str(name).strip() for name in names if name is not None}
    listed = {name for name in listed if len(name) >= 2}
    if not listed:
        return None
    return re.compile("|".join(re.escape(name) for name in sorted(listed, key=len, reverse=True)))


def scrub(text: str, names: re.Pattern | None = None) -> str:
    """Free text with every ID number, and every name `names` matches, masked."""
    text = scrub_ids(text)
    return names.sub(lambda matched: mask_name(matched.group(0)), text) if names is not None else text


@dataclass(frozen=True)
class KeySource:
    """Where a process finds the key: the environment, else the key file beside the warehouse. Worker processes
    and Dask tasks get this, never the key itself, so the secret is not pickled or sent over the network."""

    key_file: Path

    def load(self) -> Pseudonymiser:
        return _load(self.key_file)


def key_file_for(warehouse: Path) -> Path:
    return Path(warehouse).parent / KEY_FILE


def _load(key_file: Path) -> Pseudonymiser:
    value = os.environ.get(KEY_ENV)
    if value is not None:
        return Pseudonymiser(_checked(value, f"环境变量 {KEY_ENV}"))
    try:
        mode = key_file.stat().st_mode
    except FileNotFoundError:
        raise PseudonymKeyError(
            f"假名化密钥不存在：{key_file}（pseudonymisation key missing: set {KEY_ENV} or restore the key file）"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PseudonymKeyError(
            f"假名化密钥文件 {key_file} 可被其他用户读取：请执行 chmod 600 "
            f"(the key file must be readable by its owner only: chmod 600 {key_file})"
        )
    return Pseudonymiser(_checked(key_file.read_text(encoding="utf-8").strip(), f"密钥文件 {key_file}"))


def _checked(value: str, where: str) -> bytes:
    if len(value.strip()) < MIN_KEY_CHARACTERS:
        raise PseudonymKeyError(
            f"{where} 中的假名化密钥太短（至少 {MIN_KEY_CHARACTERS} 个字符，如 `openssl rand -hex 32` 的输出）"
            f"(pseudonymisation key too short: at least {MIN_KEY_CHARACTERS} characters)"
        )
    return value.strip().encode("utf-8")


def ensure_key(warehouse: Path, recorded: str | None) -> KeySource:
    """The key for runs against `warehouse`, created on first use, and checked against the fingerprint the
    warehouse recorded (`recorded`, None before the first person was loaded).

    A new key file is only made while the warehouse holds no keyed person: once it does, a missing key file is
    an error that says to restore it, because a new key would make every person a stranger to the old keys.
    """
    source = KeySource(key_file_for(warehouse).resolve())
    if os.environ.get(KEY_ENV) is None and not source.key_file.exists():
        if recorded is not None:
            raise PseudonymKeyError(
                f"假名化密钥文件 {source.key_file} 不见了，而数据仓库中已有用它生成的假名：请从备份恢复该文件"
                f"或设置 {KEY_ENV}；不要新建密钥，否则同一人将无法再被识别 "
                f"(the pseudonymisation key is missing but the warehouse holds keys made with it: restore it)"
            )
        make_secret_file(source.key_file)
    pseudonymiser = source.load()
    if recorded is not None and pseudonymiser.fingerprint != recorded:
        raise PseudonymKeyError(
            f"假名化密钥与数据仓库记录的不一致（指纹 {pseudonymiser.fingerprint}，应为 {recorded}）：请使用原来的密钥 "
            f"(the pseudonymisation key is not the one this warehouse's keys were made with)"
        )
    return source
