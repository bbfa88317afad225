"""Deterministic, seeded sample submissions: the 18 real units' workbooks whose district totals reproduce the
2022 report's figures exactly, or any number of synthetic town-like units for load tests.

All records are obviously synthetic (names end in （虚构）); only the district totals are real.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

from union_stats import credit_code
from union_stats.paths import EXTRA_UNITS_FILE
from union_stats.periods import period_bounds
from union_stats.reference import (
    Indicator,
    Unit,
    figures,
    indicators,
    reference_units,
    template,
)
from union_stats.template import FLAG_CHOICES, unit_indicators, write_workbook


NOISE = (0.7, 1.3)  # how far a unit's share may stray from its size weight
SYNTHETIC_NOISE = (0.5, 1.5)
SYNTHETIC_FLAG_YES = 0.8
SYNTHETIC_WEIGHTS = (2, 10)

# outcomes the catalog's filters do not name but the records need; checked against the template's choices
LAWYER_OUTCOMES = ("已结案", "处理中")
MEDIATION_FAILURE = "调解不成功"
CASE_TAGS = {"lawyer": "LS", "mediation": "TJ", "union": "GH"}

BRANDS = (
    "精密", "华创", "博远", "恒信", "立德", "鼎盛", "嘉和", "宏图", "新锐", "远航",
    "汇通", "锦程", "盛达", "东升", "瑞丰", "天工", "永泰", "启明", "南粤", "禺山",
    "莲花", "广达", "富民", "联星", "众诚", "信达", "和美", "卓越", "金穗", "海纳",
    "明辉", "祥云", "德润", "聚源", "安和", "同创", "星河", "云帆", "乐业", "兴华",
)  # fmt: skip
INDUSTRIES = (
    "电子", "五金", "服装", "珠宝", "食品", "物流", "家具", "印刷", "塑料制品", "汽车配件",
    "灯光音响", "包装", "建材", "模具", "化妆品", "纺织", "餐饮管理", "物业管理", "信息科技", "电器",
    "照明", "医疗器械", "环保科技", "贸易", "皮具", "玩具", "机械", "生物科技", "文化传播", "建筑工程",
)  # fmt: skip
COMPANY_FORMS = ("有限公司", "股份有限公司")
TRAINING_TOPICS = (
    "安全生产", "职业病防治", "消防安全", "劳动法律法规", "劳动合同", "工资支付与社会保险", "工会基础知识",
    "职工心理健康", "应急救护", "职业技能提升", "数字技能", "电工技能", "焊接技术", "数控加工", "质量管理",
    "精益生产", "工匠精神", "劳模精神", "班组管理", "沟通与团队协作", "职业生涯规划", "家庭教育",
    "健康生活方式", "防范电信诈骗", "法律援助", "女职工权益保护", "新就业形态劳动者权益", "节能减排",
    "电子商务", "物流管理", "财务基础", "公文写作",
)  # fmt: skip
MODULE_KINDS = ("基础知识", "政策解读", "案例分析", "实操演练", "常见问题", "应急处置", "技能提升", "经验分享")
COURSE_HOURS = (1, 1.5, 2, 2, 3, 4)
CONTACT_SURNAMES = ("陈", "李", "黄", "梁", "何", "罗", "冯", "郭", "林", "麦")

Records = list[dict[str, object]]


def district_totals() -> dict[str, int]:
    """Each catalog indicator's district total in its base unit: the base_value of the figure it reproduces."""
    return dict(_district_totals())


@cache
def _district_totals() -> dict[str, int]:
    by_id = {figure.figure_id: figure for figure in figures()}
    totals = {}
    for indicator in indicators():
        value = Decimal(by_id[indicator.figure_id].base_value)
        if value != value.to_integral_value():
            raise ValueError(f"{indicator.figure_id} 的 base_value 不是整数：{value}")
        totals[indicator.indicator_code] = int(value)
    return totals


def detail_measure(indicator: Indicator, records: Iterable[Mapping[str, object]]) -> int | float:
    """An indicator's value over detail records, by the catalog's measure, measure_field and detail_filter."""
    filters = indicator.filters
    rows = [record for record in records if all(str(record.get(name)) == value for name, value in filters)]
    if indicator.measure == "count":
        return len(rows)
    if indicator.measure == "sum":
        values = (record.get(indicator.measure_field) for record in rows)
        return sum(value for value in values if isinstance(value, int | float))
    if indicator.measure == "count_distinct":
        return len({record[indicator.measure_field] for record in rows if record.get(indicator.measure_field)})
    raise ValueError(f"未知的汇总方式：{indicator.measure}")


def allocate(total: int, weights: Sequence[float], *, minimum: int = 0, caps: Sequence[int] | None = None) -> list[int]:
    """Split an integer total in proportion to weights (largest remainder), each part >= minimum and <= its cap.

    The parts always sum to exactly `total`; that is what lets the sample reproduce the report to the unit.
    """
    count = len(weights)
    if count == 0:
        if total:
            raise ValueError(f"无法把 {total} 分配到 0 个对象")
        return []
    if total < minimum * count or (caps is not None and sum(caps) < total):
        raise ValueError(f"无法把 {total} 分配到 {count} 个对象（下限 {minimum}，上限合计 {sum(caps or [])}）")
    if caps is not None and any(cap < minimum for cap in caps):
        raise ValueError("上限不能小于下限")
    # integer weights make the arithmetic exact, so ties and totals do not depend on float rounding
    scaled = [max(int(weight * 1_000_000), 0) for weight in weights]
    parts = [minimum] * count
    open_slots = list(range(count))
    remaining = total - minimum * count
    while remaining:
        weight_sum = sum(scaled[slot] for slot in open_slots)
        if weight_sum == 0:
            # only zero-weight parts have room left: share what remains equally
            for slot in open_slots:
                scaled[slot] = 1
            weight_sum = len(open_slots)
        quotas = {slot: remaining * scaled[slot] for slot in open_slots}
        shares = {slot: quotas[slot] // weight_sum for slot in open_slots}
        leftover = remaining - sum(shares.values())
        for slot in sorted(open_slots, key=lambda slot: (-(quotas[slot] % weight_sum), slot))[:leftover]:
            shares[slot] += 1
        remaining = 0
        for slot in open_slots:
            parts[slot] += shares[slot]
            if caps is not None and parts[slot] > caps[slot]:
                # a capped part hands its excess back to the parts that still have room
                remaining += parts[slot] - caps[slot]
                parts[slot] = caps[slot]
        if caps is not None:
            open_slots = [slot for slot in open_slots if parts[slot] < caps[slot]]
    return parts


@dataclass
class _Run:
    """What one generator run shares across its units: the period and the names and codes already used."""

    period: str
    start: date
    end: date
    used_names: set[str] = field(default_factory=set)
    used_codes: set[str] = field(default_factory=set)
    case_numbers: dict[str, int] = field(default_factory=dict)

    def day(self, rng: random.Random) -> date:
        return self.start + timedelta(days=rng.randrange((self.end - self.start).days + 1))

    def enterprise(self, rng: random.Random) -> tuple[str, str]:
        name = ""
        for _ in range(20):
            name = f"番禺样例{rng.choice(BRANDS)}{rng.choice(INDUSTRIES)}{rng.choice(COMPANY_FORMS)}（虚构）"
            if name not in self.used_names:
                break
        else:
            # the name pool is spent (thousands of synthetic units): a branch number keeps names distinct
            name = name.replace("（虚构）", f"第{len(self.used_names) + 1}分公司（虚构）")
        code = credit_code.make_code(rng)
        while code in self.used_codes:
            code = credit_code.make_code(rng)
        self.used_names.add(name)
        self.used_codes.add(code)
        return name, code

    def case_no(self, channel: str) -> str:
        tag = CASE_TAGS[channel]
        self.case_numbers[tag] = self.case_numbers.get(tag, 0) + 1
        return f"PY{self.period}-{tag}-{self.case_numbers[tag]:04d}"


@cache
def _catalog() -> dict[str, Indicator]:
    return {indicator.indicator_code: indicator for indicator in indicators()}


def _filter_value(code: str, name: str) -> str:
    return dict(_catalog()[code].filters)[name]


def _check_choices() -> None:
    column = template().sheet_spec("dispute_cases").column("outcome")
    missing = {*LAWYER_OUTCOMES, MEDIATION_FAILURE} - set(column.choices)
    if missing:
        raise ValueError(f"模板“{column.header}”列没有这些选项：{sorted(missing)}")


def _enterprises(shares: Mapping[str, int | str], rng: random.Random, run: _Run) -> Records:
    count = int(shares["enterprises_unionised"])
    members = allocate(int(shares["new_members"]), [rng.lognormvariate(0, 0.8) for _ in range(count)], minimum=1)
    new_form = allocate(
        int(shares["new_form_members"]), [rng.uniform(0.2, 1.0) * part for part in members], caps=members
    )
    founded = sorted(run.day(rng) for _ in range(count))
    records: Records = []
    for founded_on, members_here, new_form_here in zip(founded, members, new_form, strict=True):
        name, code = run.enterprise(rng)
        records.append(
            {
                "enterprise_name": name,
                "credit_code": code,
                "founded_on": founded_on,
                "new_members": members_here,
                "new_form_members": new_form_here,
            }
        )
    return records


def _dues_refunds(shares: Mapping[str, int | str], rng: random.Random, run: _Run) -> Records:
    count = int(shares["dues_refund_enterprises"])
    amount = int(shares["dues_refund_amount"])
    employees = [rng.randint(3, 100) for _ in range(count)]
    refunds = allocate(
        amount, [people * rng.uniform(0.6, 1.4) for people in employees], minimum=min(200, amount // max(count, 1))
    )
    records: Records = []
    for people, refund in zip(employees, refunds, strict=True):
        name, code = run.enterprise(rng)
        records.append({"enterprise_name": name, "credit_code": code, "employees": people, "refund_yuan": refund})
    return records


def _training_courses(shares: Mapping[str, int | str], rng: random.Random) -> Records:
    topic_count = int(shares["training_topics"])
    module_count = int(shares["training_modules"])
    topics = list(TRAINING_TOPICS)
    rng.shuffle(topics)
    topics = [topics[i] if i < len(topics) else f"{topics[i % len(topics)]}（{i + 1}）" for i in range(topic_count)]
    per_topic = allocate(module_count, [rng.uniform(0.5, 1.5) for _ in topics], minimum=1)
    records: Records = []
    for topic, modules in zip(topics, per_topic, strict=True):
        kinds = list(MODULE_KINDS)
        rng.shuffle(kinds)
        for index in range(modules):
            kind = kinds[index] if index < len(kinds) else f"专题研讨{index + 1}"
            records.append({"topic": topic, "module": f"{topic}·{kind}", "hours": rng.choice(COURSE_HOURS)})
    return records


def _case_rows(
    run: _Run,
    rng: random.Random,
    channel_key: str,
    channel: str,
    outcomes: Sequence[str],
    workers: Sequence[int],
    claimed: Sequence[int],
    recovered: Sequence[int | None],
) -> Records:
    accepted = sorted(run.day(rng) for _ in workers)
    return [
        {
            "case_no": run.case_no(channel_key),
            "channel": channel,
            "accepted_on": accepted_on,
            "workers": workers_here,
            "amount_claimed_yuan": claimed_here,
            "outcome": outcome,
            "amount_recovered_yuan": recovered_here,
        }
        for accepted_on, outcome, workers_here, claimed_here, recovered_here in zip(
            accepted, outcomes, workers, claimed, recovered, strict=True
        )
    ]


def _claims(total: int, workers: Sequence[int], rng: random.Random) -> list[int]:
    weights = [people * rng.lognormvariate(0, 0.7) for people in workers]
    return allocate(total, weights, minimum=min(1000, total // max(len(workers), 1)))


def _lawyer_cases(shares: Mapping[str, int | str], rng: random.Random, run: _Run) -> Records:
    count = int(shares["lawyer_panel_cases"])
    workers = allocate(int(shares["lawyer_panel_workers"]), [rng.expovariate(1) for _ in range(count)], minimum=1)
    claimed = _claims(int(shares["lawyer_panel_claimed"]), workers, rng)
    outcomes = [LAWYER_OUTCOMES[0] if rng.random() < 0.75 else LAWYER_OUTCOMES[1] for _ in range(count)]
    recovered = [
        int(amount * rng.uniform(0.3, 1.0)) if outcome == LAWYER_OUTCOMES[0] else None
        for amount, outcome in zip(claimed, outcomes, strict=True)
    ]
    channel = _filter_value("lawyer_panel_cases", "channel")
    return _case_rows(run, rng, "lawyer", channel, outcomes, workers, claimed, recovered)


def _mediation_cases(shares: Mapping[str, int | str], rng: random.Random, run: _Run) -> Records:
    count = int(shares["mediation_cases"])
    succeeded_count = int(shares["mediation_success_cases"])
    success = _filter_value("mediation_success_cases", "outcome")
    succeeded = set(rng.sample(range(count), succeeded_count))
    outcomes = [success if index in succeeded else MEDIATION_FAILURE for index in range(count)]
    # workers are split separately for succeeded and failed cases so both the total and the successes match
    success_workers = iter(
        allocate(int(shares["mediation_success_workers"]), [rng.expovariate(1) for _ in succeeded], minimum=1)
    )
    failure_workers = iter(
        allocate(
            int(shares["mediation_workers"]) - int(shares["mediation_success_workers"]),
            [rng.expovariate(1) for _ in range(count - succeeded_count)],
            minimum=1,
        )
    )
    workers = [next(success_workers) if outcome == success else next(failure_workers) for outcome in outcomes]
    claimed = _claims(int(shares["mediation_amount"]), workers, rng)
    # only settled cases recover money, and never more than was claimed
    success_rows = [index for index in range(count) if outcomes[index] == success]
    recovered_parts = allocate(
        int(shares["mediation_recovered"]),
        [claimed[index] * rng.uniform(0.2, 1.0) for index in success_rows],
        caps=[claimed[index] for index in success_rows],
    )
    recovered: list[int | None] = [None] * count
    for index, part in zip(success_rows, recovered_parts, strict=True):
        recovered[index] = part
    channel = _filter_value("mediation_cases", "channel")
    return _case_rows(run, rng, "mediation", channel, outcomes, workers, claimed, recovered)


def _union_cases(shares: Mapping[str, int | str], rng: random.Random, run: _Run) -> Records:
    count = int(shares["dispute_cases_union"])
    outcomes = [rng.choice(template().sheet_spec("dispute_cases").column("outcome").choices) for _ in range(count)]
    settled = (LAWYER_OUTCOMES[0], _filter_value("mediation_success_cases", "outcome"))
    workers = [1 + min(int(rng.expovariate(0.25)), 60) for _ in range(count)]
    claimed = [people * rng.randrange(30, 300) * 100 for people in workers]
    recovered = [
        int(amount * rng.uniform(0.3, 1.0)) if outcome in settled else None
        for amount, outcome in zip(claimed, outcomes, strict=True)
    ]
    channel = _filter_value("dispute_cases_union", "channel")
    return _case_rows(run, rng, "union", channel, outcomes, workers, claimed, recovered)


def _details(unit: Unit, shares: Mapping[str, int | str], rng: random.Random, run: _Run) -> dict[str, Records]:
    """A unit's detail records, built so that every detail-derived indicator it reports equals its share."""
    details: dict[str, Records] = {}
    if "enterprises_unionised" in shares:
        details["enterprises_unionised"] = _enterprises(shares, rng, run)
    if "dues_refund_enterprises" in shares:
        details["dues_refunds"] = _dues_refunds(shares, rng, run)
    cases: Records = []
    if "lawyer_panel_cases" in shares:
        cases += _lawyer_cases(shares, rng, run)
    if "mediation_cases" in shares:
        cases += _mediation_cases(shares, rng, run)
    if "dispute_cases_union" in shares:
        cases += _union_cases(shares, rng, run)
    if cases:
        details["dispute_cases"] = cases
    if "training_topics" in shares:
        details["training_courses"] = _training_courses(shares, rng)
    return details


def _indicator_values(
    unit: Unit, shares: Mapping[str, int | str], details: Mapping[str, Records], *, exact: bool
) -> dict[str, int | float | str]:
    """The unit's indicator sheet: its shares, with detail-derived values taken from its own detail records."""
    values: dict[str, int | float | str] = {}
    for indicator in unit_indicators(unit):
        if not indicator.from_detail:
            values[indicator.indicator_code] = shares[indicator.indicator_code]
            continue
        measured = detail_measure(indicator, details.get(indicator.detail_sheet, ()))
        if exact and measured != shares[indicator.indicator_code]:
            raise RuntimeError(
                f"{unit.unit_code} 的 {indicator.indicator_code}：明细汇总 {measured} ≠ 分配值 "
                f"{shares[indicator.indicator_code]}"
            )
        values[indicator.indicator_code] = measured
    return values


def _district_shares(units: Sequence[Unit], rng: random.Random) -> dict[str, dict[str, int | str]]:
    """Split every indicator's district total over the units that report it; the parts sum to the total exactly."""
    shares: dict[str, dict[str, int | str]] = {unit.unit_code: {} for unit in units}
    for code, total in _district_totals().items():
        indicator = _catalog()[code]
        reporters = [unit for unit in units if indicator.reported_by_kind(unit.kind)]
        if indicator.aggregation == "sum":
            parts: Sequence[int | str] = allocate(total, [unit.size_weight * rng.uniform(*NOISE) for unit in reporters])
        elif indicator.aggregation == "count_yes":
            yes = set(rng.sample(range(len(reporters)), total))
            parts = [FLAG_CHOICES[0] if index in yes else FLAG_CHOICES[1] for index in range(len(reporters))]
        elif indicator.aggregation == "count_distinct":
            # distinct values across several units would not add up; the catalog gives these to one unit only
            if len(reporters) != 1:
                raise ValueError(f"{code}：按不同值计数的指标只能由一个单位填报，现有 {len(reporters)} 个")
            parts = [total]
        else:
            raise ValueError(f"{code}：未知的汇总方式 {indicator.aggregation}")
        for unit, part in zip(reporters, parts, strict=True):
            shares[unit.unit_code][code] = part
    return shares


def _synthetic_units(count: int, rng: random.Random) -> list[Unit]:
    return [
        Unit(
            unit_code=f"syn{number:04d}",
            name_zh=f"样例镇{number:04d}总工会",
            name_en=f"Sample Town {number:04d} Federation",
            kind="town",
            size_weight=float(rng.randint(*SYNTHETIC_WEIGHTS)),
        )
        for number in range(1, count + 1)
    ]


@cache
def _reference_weight(indicator: Indicator) -> float:
    return sum(unit.size_weight for unit in reference_units() if indicator.reported_by_kind(unit.kind))


def _synthetic_shares(unit: Unit, rng: random.Random) -> dict[str, int | str]:
    """Plausible values for a synthetic unit: what a real unit of its weight would report, with more noise."""
    totals = _district_totals()
    shares: dict[str, int | str] = {}
    for indicator in unit_indicators(unit):
        code = indicator.indicator_code
        if indicator.aggregation == "count_yes":
            shares[code] = FLAG_CHOICES[0] if rng.random() < SYNTHETIC_FLAG_YES else FLAG_CHOICES[1]
            continue
        typical = totals[code] * unit.size_weight / _reference_weight(indicator)
        shares[code] = round(typical * rng.uniform(*SYNTHETIC_NOISE))
    # keep the record constraints satisfiable: each enterprise brings at least one member, new-form ones are a part
    if "enterprises_unionised" in shares:
        enterprises = int(shares["enterprises_unionised"])
        shares["new_members"] = max(int(shares["new_members"]), enterprises) if enterprises else 0
        shares["new_form_members"] = min(int(shares["new_form_members"]), int(shares["new_members"]))
    return shares


def _contact(rng: random.Random) -> tuple[str, str]:
    # a zero after the area code is never a real Guangzhou number, so the phone is visibly fake
    return f"{rng.choice(CONTACT_SURNAMES)}样例", f"020-0000{rng.randrange(10_000):04d}"


def _write_units_file(path: Path, units: Sequence[Unit]) -> None:
    columns = [column.name for column in fields(Unit)]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for unit in units:
            row = asdict(unit)
            row["size_weight"] = f"{unit.size_weight:g}"
            writer.writerow(row)


def write_sample(period: str, out_dir: Path, *, units: int | None = None, seed: int = 2022) -> list[Path]:
    """Write one sample workbook per unit to `out_dir/<unit_code>_<period>.xlsx` and return the paths.

    With `units=None` the 18 real units split the report's district totals exactly; with `units=N`, N synthetic
    town-like units get plausible values and `out_dir/units.csv` lists them.
    """
    start, end = period_bounds(period)
    _check_choices()
    run = _Run(period=period, start=start, end=end)
    out_dir.mkdir(parents=True, exist_ok=True)
    if units is None:
        unit_list: list[Unit] = list(reference_units())
        shares = _district_shares(unit_list, random.Random(f"{seed}:{period}:split"))
    else:
        unit_list = _synthetic_units(units, random.Random(f"{seed}:{period}:units"))
        shares = {
            unit.unit_code: _synthetic_shares(unit, random.Random(f"{seed}:{period}:{unit.unit_code}:values"))
            for unit in unit_list
        }
        _write_units_file(out_dir / EXTRA_UNITS_FILE, unit_list)
    paths = []
    for unit in unit_list:
        rng = random.Random(f"{seed}:{period}:{unit.unit_code}")
        details = _details(unit, shares[unit.unit_code], rng, run)
        values = _indicator_values(unit, shares[unit.unit_code], details, exact=units is None)
        contact_name, contact_phone = _contact(rng)
        paths.append(
            write_workbook(
                out_dir / f"{unit.unit_code}_{period}.xlsx",
                unit,
                period,
                values=values,
                details=details,
                contact_name=contact_name,
                contact_phone=contact_phone,
                filled_on=end,
            )
        )
    return paths
