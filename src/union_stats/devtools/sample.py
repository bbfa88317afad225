"""Deterministic, seeded sample submissions: the 18 real units' workbooks whose district totals reproduce the
2022 report's figures exactly (and reach the targets of `reference/targets.csv`), for a year or for each of its
quarters, or any number of synthetic town-like units for load tests.

All records are obviously synthetic (names end in （虚构）); only the district totals are real.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from functools import cache
from pathlib import Path

from union_stats import credit_code
from union_stats.discover import RECEIPTS_COLUMNS, RECEIPTS_FILE
from union_stats.paths import EXTRA_UNITS_FILE
from union_stats.periods import due_on, is_quarter, period_bounds, quarters_of, year_of
from union_stats.reference import (
    CURRENT_TEMPLATE,
    Indicator,
    Unit,
    figures,
    indicator_parts,
    indicators,
    reference_units,
    targets,
    template,
)
from union_stats.template import FLAG_CHOICES, unit_indicators, write_workbook

NOISE = (0.7, 1.3)  # how far a unit's share may stray from its size weight
# a quarter's share of a unit's year: a unit-wide season times a little noise per indicator. Both are narrow so
# that no quarter is more than twice the one before, which the history rule would question
SEASON = (0.85, 1.15)
QUARTER_NOISE = (0.9, 1.1)
# a target is worked towards over the year: each achievement (a model enterprise named, a site set up) falls in a
# quarter drawn with these weights, so a year's progress shows before its last quarter
TARGET_QUARTER_WEIGHTS = (2, 3, 4, 5)
# how far the sample goes beyond each target of reference/targets.csv: the 10 model enterprises land exactly on
# the target (a `ge` target is met at equality); the "1家以上" and "不少于2家" targets are beaten by one
SAMPLE_BEYOND_TARGET = {"model_enterprises": 0, "three_batches_sites": 1, "collective_bargaining_models": 1}
# a unit's records of a year, up to this many, are also evened out pairwise when dealt to quarters (see `deal`)
DEAL_REFINE_UP_TO = 200
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
PERSON_SURNAMES = (
    "陈", "李", "黄", "梁", "何", "罗", "冯", "郭", "林", "麦", "张", "王", "刘", "杨", "吴", "邓", "谭", "周", "钟", "叶",
)  # fmt: skip
PERSON_GIVEN = (
    "志强", "秀英", "建华", "丽娟", "国平", "美玲", "伟明", "桂芳", "家豪", "嘉欣", "俊杰", "婉婷", "子轩", "晓琳",
    "永康", "淑贞", "锦荣", "惠珍", "少华", "翠萍", "浩然", "雅静", "卫东", "玉兰", "文斌", "春燕", "振宇", "佩仪",
)  # fmt: skip
# the sample's people live in Guangzhou's county 99, a code never assigned (stdnum's register of region codes
# knows 440101-440118 and no 440199): valid check characters, and never a real person's number
FAKE_REGION = "440199"
# ages the sample gives each kind of payment's people; the rule's bounds (reference/beneficiary_types.csv) are wider
SAMPLE_AGES = {"住院关爱": (22, 60), "两保计划": (22, 58), "助学": (7, 22), "新春慰问": (30, 85)}
# what a payment of a kind without an amount total in the catalog is, in yuan (drawn, rounded to 10 yuan)
SAMPLE_AMOUNTS = {"助学": (1000, 3000), "新春慰问": (300, 1000)}

Records = list[dict[str, object]]


def district_totals(year: str) -> dict[str, int]:
    """Each catalog indicator's district total for a year, in its base unit, where the sample has one.

    An indicator that feeds a figure of the 2022 report takes that figure's base_value in every year: the report
    is the only real total there is, so a 2023 sample repeats 2022's totals (its split over units, records and
    quarters still differs by year). An indicator with a target for the year (reference/targets.csv) gets a total
    that meets it. An indicator with neither (the 2023 target indicators in 2022) totals 0: the template wants
    every indicator row filled ("本期没有发生的填 0", rule values.required), and a blank would be refused.
    """
    return dict(_district_totals(year))


def _base_value(figure_id: str) -> int:
    by_id = {figure.figure_id: figure for figure in figures()}
    value = Decimal(by_id[figure_id].base_value)
    if value != value.to_integral_value():
        raise ValueError(f"{figure_id} 的 base_value 不是整数：{value}")
    return int(value)


def _sample_total(target: Mapping[str, str]) -> int:
    """A district total that meets a target under its comparator, by the sample's margin for that indicator."""
    value = int(Decimal(target["target"]))
    beyond = SAMPLE_BEYOND_TARGET.get(target["indicator_code"], 0)
    total = {
        "ge": value + beyond,
        "gt": value + max(beyond, 1),
        "eq": value,
        "le": value - beyond,
        "lt": value - max(beyond, 1),
    }
    return max(total[target["comparator"]], 0)


@cache
def _targets(year: str) -> dict[str, dict[str, str]]:
    return {row["indicator_code"]: row for row in targets() if row["year"] == year}


@cache
def _district_totals(year: str) -> dict[str, int]:
    totals = {}
    for indicator in indicators():
        code = indicator.indicator_code
        if code in _targets(year):
            totals[code] = _sample_total(_targets(year)[code])
        elif indicator.figure_id:
            totals[code] = _base_value(indicator.figure_id)
        else:
            totals[code] = 0
    return totals


def detail_measure(indicator: Indicator, records: Iterable[Mapping[str, object]]) -> int | float:
    """An indicator's value over detail records, by the catalog's measure, measure_field and detail_filter."""
    filters = indicator.filters
    rows = [record for record in records if all(str(record.get(name)) == value for name, value in filters)]
    if indicator.measure == "count":
        return len(rows)
    if indicator.measure == "sum":
        values = (record.get(indicator.measure_field) for record in rows)
        # amounts with cents add up exactly as decimals, as the warehouse adds them
        total = sum((Decimal(str(value)) for value in values if isinstance(value, int | float)), Decimal(0))
        return int(total) if total == total.to_integral_value() else float(total)
    if indicator.measure == "count_distinct":
        field, within = indicator.measure_field, indicator.distinct_within
        return len({(record.get(within) if within else None, record[field]) for record in rows if record.get(field)})
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


def deal(items: Sequence[Sequence[float]], slots: int, rng: random.Random) -> list[int]:
    """A slot for each item, where an item is a tuple of sizes (1 for the row itself, then members, amounts, ...),
    so that every slot gets a like share of every size.

    Largest first, each item goes to the slot whose fullest share stays lowest (ties to the slots in an order drawn
    from `rng`); then, where there are few items and so lumps, swapping items between slots while that evens the
    shares out. Even quarters keep the history rule (no quarter twice the one before) quiet on sample data.
    """
    if not items:
        return []
    totals = [sum(column) or 1.0 for column in zip(*items, strict=True)]
    shares = [[size / total for size, total in zip(item, totals, strict=True)] for item in items]
    order = rng.sample(range(slots), slots)
    loads = [[0.0] * len(totals) for _ in range(slots)]
    assigned = [0] * len(items)

    def add(slot: int, index: int) -> list[float]:
        return [load + share for load, share in zip(loads[slot], shares[index], strict=True)]

    for index in sorted(range(len(items)), key=lambda index: (-max(shares[index]), index)):
        slot = min(order, key=lambda slot: (max(add(slot, index)), sum(add(slot, index))))
        loads[slot] = add(slot, index)
        assigned[index] = slot

    improved = len(items) <= DEAL_REFINE_UP_TO
    while improved:
        improved = False
        for first in range(len(items)):
            for second in range(first + 1, len(items)):
                a, b = assigned[first], assigned[second]
                if a == b:
                    continue
                # swapping moves d = share(second) - share(first) from slot b to slot a: the slots' summed squared
                # distance from an even share changes by 2 * sum(d * (load_a - load_b + d))
                change = sum(
                    (y - x) * (load_a - load_b + y - x)
                    for load_a, load_b, x, y in zip(loads[a], loads[b], shares[first], shares[second], strict=True)
                )
                if 2 * change < -1e-12:
                    loads[a] = [
                        load - x + y for load, x, y in zip(loads[a], shares[first], shares[second], strict=True)
                    ]
                    loads[b] = [
                        load - y + x for load, x, y in zip(loads[b], shares[first], shares[second], strict=True)
                    ]
                    assigned[first], assigned[second] = b, a
                    improved = True
    return assigned


@cache
def _summed_fields(kind: str) -> tuple[str, ...]:
    on_sheet = [indicator for indicator in indicators() if indicator.detail_sheet == kind]
    return tuple(sorted({indicator.measure_field for indicator in on_sheet if indicator.measure == "sum"}))


def _sizes(kind: str, record: Mapping[str, object]) -> tuple[float, ...]:
    """What a detail record weighs in the indicators it feeds: one row, and each field the catalog sums."""
    return (1.0, *(float(record.get(name) or 0) for name in _summed_fields(kind)))


@dataclass
class _Run:
    """What one generator run shares across its units: the period and the names and codes already used."""

    period: str
    start: date
    end: date
    used_names: set[str] = field(default_factory=set)
    used_codes: set[str] = field(default_factory=set)
    case_numbers: dict[str, int] = field(default_factory=dict)
    used_ids: set[str] = field(default_factory=set)

    def day(self, rng: random.Random, start: date | None = None, end: date | None = None) -> date:
        start, end = start or self.start, end or self.end
        return start + timedelta(days=rng.randrange((end - start).days + 1))

    def days(self, rng: random.Random, sizes: Sequence[Sequence[float]]) -> list[date]:
        """A date for each record of the given sizes (see `deal`). Over a year the records are dealt to the quarters
        first, so that the year's quarterly returns, which hold each record in the quarter of its date, come out
        even: no quarter's count or sum is far from another's."""
        if is_quarter(self.period):
            return [self.day(rng) for _ in sizes]
        quarters = [period_bounds(quarter) for quarter in quarters_of(self.period)]
        return [self.day(rng, *quarters[slot]) for slot in deal(sizes, len(quarters), rng)]

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

    def person(self, rng: random.Random, born_between: tuple[date, date]) -> tuple[str, str]:
        """A clearly fake person: a name marked （虚构） and an ID number in a region that does not exist, with a
        valid GB 11643 check character, distinct within the run."""
        from stdnum.cn import ric

        while True:
            born = self.day(rng, *born_between)
            body = f"{FAKE_REGION}{born:%Y%m%d}{rng.randrange(1000):03d}"
            number = body + ric.calc_check_digit(body + "0")
            if number not in self.used_ids:
                self.used_ids.add(number)
                return f"{rng.choice(PERSON_SURNAMES)}{rng.choice(PERSON_GIVEN)}（虚构）", number

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
    records: Records = []
    for members_here, new_form_here in zip(members, new_form, strict=True):
        name, code = run.enterprise(rng)
        records.append(
            {
                "enterprise_name": name,
                "credit_code": code,
                "new_members": members_here,
                "new_form_members": new_form_here,
            }
        )
    founded = run.days(rng, [_sizes("enterprises_unionised", record) for record in records])
    for record, founded_on in zip(records, founded, strict=True):
        record["founded_on"] = founded_on
    return sorted(records, key=lambda record: record["founded_on"])


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
    cases: Records = [
        {
            "channel": channel,
            "workers": workers_here,
            "amount_claimed_yuan": claimed_here,
            "outcome": outcome,
            "amount_recovered_yuan": recovered_here,
        }
        for outcome, workers_here, claimed_here, recovered_here in zip(
            outcomes, workers, claimed, recovered, strict=True
        )
    ]
    accepted = run.days(rng, [_sizes("dispute_cases", case) for case in cases])
    # case numbers follow the order in which cases were accepted
    ordered_cases = sorted(zip(accepted, cases, strict=True), key=lambda pair: pair[0])
    return [
        {"case_no": run.case_no(channel_key), "accepted_on": accepted_on, **case} for accepted_on, case in ordered_cases
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


BENEFICIARIES = "beneficiaries"


def _beneficiaries(shares: Mapping[str, int | str], rng: random.Random, run: _Run) -> Records:
    """The unit's payments to people, each kind's count and amount equal to its shares of the catalog's
    indicators on the beneficiary sheet (a kind without an amount indicator gets drawn amounts)."""
    kinds: dict[str, dict[str, Indicator]] = {}
    for indicator in indicators():
        if indicator.detail_sheet == BENEFICIARIES and indicator.indicator_code in shares:
            kinds.setdefault(dict(indicator.filters)["beneficiary_type"], {})[indicator.measure] = indicator
    records: Records = []
    for kind, measured in kinds.items():
        count = int(shares[measured["count"].indicator_code])
        if "sum" in measured:
            # in cents, so that amounts carry cents and still add up to the total exactly
            cents = allocate(
                int(shares[measured["sum"].indicator_code]) * 100,
                [rng.uniform(0.6, 1.4) for _ in range(count)],
                minimum=min(1000, int(shares[measured["sum"].indicator_code]) * 100 // max(count, 1)),
            )
        else:
            low, high = SAMPLE_AMOUNTS[kind]
            cents = [rng.randrange(low, high + 1, 10) * 100 for _ in range(count)]
        youngest, oldest = SAMPLE_AGES[kind]
        for amount in cents:
            records.append({"beneficiary_type": kind, "amount_yuan": amount / 100 if amount % 100 else amount // 100})
        kind_records = records[len(records) - count :]
        for record, paid_on in zip(kind_records, run.days(rng, [_sizes(BENEFICIARIES, r) for r in kind_records])):
            record["paid_on"] = paid_on
            born_between = (
                date(paid_on.year - oldest, 1, 1),
                date(paid_on.year - youngest, 12, 31),
            )
            record["name"], record["id_number"] = run.person(rng, born_between)
    return sorted(records, key=lambda record: (record["beneficiary_type"], record["paid_on"]))


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
    if any(
        indicator.detail_sheet == BENEFICIARIES and indicator.indicator_code in shares for indicator in indicators()
    ):
        details[BENEFICIARIES] = _beneficiaries(shares, rng, run)
    return details


def _indicator_values(
    unit: Unit, shares: Mapping[str, int | str], details: Mapping[str, Records], *, exact: bool
) -> dict[str, int | float | str]:
    """The unit's indicator sheet: its shares, with detail-derived values taken from its own detail records.

    An indicator without a share (no total for the year) is left blank."""
    values: dict[str, int | float | str] = {}
    for indicator in unit_indicators(unit):
        if not indicator.from_detail:
            if indicator.indicator_code in shares:
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


def _district_shares(units: Sequence[Unit], year: str, rng: random.Random) -> dict[str, dict[str, int | str]]:
    """Split every indicator's district total over the units that report it; the parts sum to the total exactly."""
    shares: dict[str, dict[str, int | str]] = {unit.unit_code: {} for unit in units}
    for code, total in _district_totals(year).items():
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


def _synthetic_shares(unit: Unit, period: str, rng: random.Random) -> dict[str, int | str]:
    """Plausible values for a synthetic unit: what a real unit of its weight would report, with more noise (a
    quarter of it for a quarter)."""
    totals = _district_totals(year_of(period))
    part_of_year = 1 / len(quarters_of(year_of(period))) if is_quarter(period) else 1
    shares: dict[str, int | str] = {}
    for indicator in unit_indicators(unit):
        code = indicator.indicator_code
        if code not in totals:
            continue
        if indicator.aggregation == "count_yes":
            shares[code] = FLAG_CHOICES[0] if rng.random() < SYNTHETIC_FLAG_YES else FLAG_CHOICES[1]
            continue
        typical = totals[code] * part_of_year * unit.size_weight / _reference_weight(indicator)
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


BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
# sample files arrive this many days before their period's due date, during office hours
RECEIPT_DAYS_EARLY = (1, 6)
RECEIPT_HOURS = (9, 17)


def receipt_time(period: str, unit_code: str, seed: int) -> datetime:
    """When the office received a sample file: a few days before the due date, in office hours (deterministic)."""
    rng = random.Random(f"{seed}:{period}:{unit_code}:receipt")
    day = due_on(period) - timedelta(days=rng.randint(*RECEIPT_DAYS_EARLY))
    moment = time(rng.randint(RECEIPT_HOURS[0], RECEIPT_HOURS[1] - 1), rng.randrange(60))
    return datetime.combine(day, moment, tzinfo=BEIJING)


def _write_receipts(out_dir: Path, period: str, paths: Sequence[Path], seed: int) -> None:
    """The period folder's receipts manifest (discover.RECEIPTS_FILE): when the office received each file."""
    with (out_dir / RECEIPTS_FILE).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(RECEIPTS_COLUMNS)
        for path in sorted(paths):
            unit_code = path.name.rsplit("_", 1)[0]
            writer.writerow([path.name, receipt_time(period, unit_code, seed).isoformat()])


@dataclass
class _Submission:
    """One unit's sample return for a period: indicator values, detail records and who filled it in."""

    unit: Unit
    values: dict[str, int | float | str]
    details: dict[str, Records]
    contact_name: str
    contact_phone: str


def _write(submission: _Submission, period: str, out_dir: Path, template_version: str = CURRENT_TEMPLATE) -> Path:
    """A sample return in a template version: an older version lacks sheets (v1: the beneficiary list), whose
    indicators it reports on its indicator sheet, with the same totals."""
    version = template(template_version)
    return write_workbook(
        out_dir / f"{submission.unit.unit_code}_{period}.xlsx",
        submission.unit,
        period,
        values=submission.values,
        details={kind: records for kind, records in submission.details.items() if version.has_sheet(kind)},
        template_version=template_version,
        contact_name=submission.contact_name,
        contact_phone=submission.contact_phone,
        filled_on=period_bounds(period)[1],
    )


def _reference_year(year: str, seed: int) -> list[tuple[_Submission, dict[str, int | str]]]:
    """The 18 real units' returns for a year, each with the unit's shares of the district totals."""
    start, end = period_bounds(year)
    run = _Run(period=year, start=start, end=end)
    unit_list = list(reference_units())
    shares = _district_shares(unit_list, year, random.Random(f"{seed}:{year}:split"))
    returns = []
    for unit in unit_list:
        rng = random.Random(f"{seed}:{year}:{unit.unit_code}")
        details = _details(unit, shares[unit.unit_code], rng, run)
        values = _indicator_values(unit, shares[unit.unit_code], details, exact=True)
        contact_name, contact_phone = _contact(rng)
        returns.append((_Submission(unit, values, details, contact_name, contact_phone), shares[unit.unit_code]))
    return returns


def _quarter_values(
    unit: Unit, shares: Mapping[str, int | str], year: str, rng: random.Random
) -> list[dict[str, int | str]]:
    """A unit's indicator-sheet values (those not taken from a detail sheet) for each quarter of the year.

    Additive values are split so the quarters sum to the year exactly; a flag holds all year; an indicator with
    a target accrues towards it. A whole is split before its parts, and each part is capped by its whole quarter
    by quarter (the validation rule: a part never exceeds its whole).
    """
    quarters = quarters_of(year)
    split: list[dict[str, int | str]] = [{} for _ in quarters]
    season = [rng.uniform(*SEASON) for _ in quarters]
    whole_of = {pair["part"]: pair["whole"] for pair in indicator_parts()}
    own = [
        indicator
        for indicator in unit_indicators(unit)
        if not indicator.from_detail and indicator.indicator_code in shares
    ]
    for indicator in sorted(own, key=lambda indicator: indicator.indicator_code in whole_of):
        code = indicator.indicator_code
        value = shares[code]
        if indicator.aggregation == "count_yes":
            parts: Sequence[int | str] = [value] * len(quarters)
        elif indicator.aggregation != "sum":
            raise ValueError(f"{code}：不知道如何把 {indicator.aggregation} 指标分到各季度")
        elif code in _targets(year):
            drawn = rng.choices(range(len(quarters)), weights=TARGET_QUARTER_WEIGHTS, k=int(value))
            parts = [drawn.count(slot) for slot in range(len(quarters))]
        else:
            whole = whole_of.get(code)
            caps = [int(split[slot][whole]) for slot in range(len(quarters))] if whole in split[0] else None
            parts = allocate(int(value), [weight * rng.uniform(*QUARTER_NOISE) for weight in season], caps=caps)
        for slot, part in enumerate(parts):
            split[slot][code] = part
    return split


def _record_groups(kind: str, records: Records) -> list[list[int]]:
    """Records that must share a quarter: those with the same value of a field that a distinct-count indicator
    counts (a training topic's courses), so that distinct counts still add up over the quarters; else each alone."""
    fields_counted = [
        indicator.measure_field
        for indicator in indicators()
        if indicator.detail_sheet == kind and indicator.measure == "count_distinct"
    ]
    if not fields_counted:
        return [[index] for index in range(len(records))]
    groups: dict[object, list[int]] = {}
    for index, record in enumerate(records):
        groups.setdefault(record[fields_counted[0]], []).append(index)
    return list(groups.values())


def _group_sizes(kind: str, records: Records, group: list[int]) -> tuple[float, ...]:
    return tuple(sum(sizes) for sizes in zip(*(_sizes(kind, records[index]) for index in group), strict=True))


def _quarter_details(details: Mapping[str, Records], year: str, rng: random.Random) -> list[dict[str, Records]]:
    """A unit's detail records, each in one quarter of the year: a dated record in the quarter of its date (so
    every date lies in its quarter), an undated one dealt to a quarter with its group (see `_record_groups`)."""
    quarters = quarters_of(year)
    split: list[dict[str, Records]] = [{} for _ in quarters]
    for kind, records in details.items():
        dated = next((column.name for column in template().sheet_spec(kind).columns if column.type == "date"), None)
        if dated is not None:
            slots = [(record[dated].month - 1) // 3 for record in records]
        else:
            groups = _record_groups(kind, records)
            dealt = deal([_group_sizes(kind, records, group) for group in groups], len(quarters), rng)
            slots = [0] * len(records)
            for group, slot in zip(groups, dealt, strict=True):
                for index in group:
                    slots[index] = slot
        for slot in range(len(quarters)):
            split[slot][kind] = [record for record, placed in zip(records, slots, strict=True) if placed == slot]
    return split


def _reference_quarters(year: str, seed: int) -> dict[str, list[_Submission]]:
    """The 18 real units' quarterly returns for a year: the year's returns cut into quarters, so that with the same
    seed the four quarters of each unit add up to its annual return (`write_sample(year)`) exactly."""
    quarters = quarters_of(year)
    returns: dict[str, list[_Submission]] = {quarter: [] for quarter in quarters}
    for annual, shares in _reference_year(year, seed):
        unit = annual.unit
        rng = random.Random(f"{seed}:{year}:{unit.unit_code}:quarters")
        values = _quarter_values(unit, shares, year, rng)
        details = _quarter_details(annual.details, year, rng)
        for slot, quarter in enumerate(quarters):
            quarter_values = _indicator_values(unit, values[slot], details[slot], exact=False)
            returns[quarter].append(
                _Submission(unit, quarter_values, details[slot], annual.contact_name, annual.contact_phone)
            )
    return returns


def write_sample(
    period: str,
    out_dir: Path,
    *,
    units: int | None = None,
    seed: int = 2022,
    template_version: str = CURRENT_TEMPLATE,
) -> list[Path]:
    """Write one sample workbook per unit to `out_dir/<unit_code>_<period>.xlsx` and return the paths.

    With `units=None` the 18 real units split the report's district totals exactly (a quarter gets its part of
    the year, see `write_year`); with `units=N`, N synthetic town-like units get plausible values and
    `out_dir/units.csv` lists them. `template_version` picks the workbook layout (default: the current one).
    """
    _check_choices()
    out_dir.mkdir(parents=True, exist_ok=True)
    if units is None:
        if is_quarter(period):
            submissions = _reference_quarters(year_of(period), seed)[period]
        else:
            submissions = [submission for submission, _ in _reference_year(period, seed)]
        paths = [_write(submission, period, out_dir, template_version) for submission in submissions]
        _write_receipts(out_dir, period, paths, seed)
        return paths
    start, end = period_bounds(period)
    run = _Run(period=period, start=start, end=end)
    unit_list = _synthetic_units(units, random.Random(f"{seed}:{period}:units"))
    _write_units_file(out_dir / EXTRA_UNITS_FILE, unit_list)
    paths = []
    for unit in unit_list:
        shares = _synthetic_shares(unit, period, random.Random(f"{seed}:{period}:{unit.unit_code}:values"))
        rng = random.Random(f"{seed}:{period}:{unit.unit_code}")
        details = _details(unit, shares, rng, run)
        values = _indicator_values(unit, shares, details, exact=False)
        contact_name, contact_phone = _contact(rng)
        submission = _Submission(unit, values, details, contact_name, contact_phone)
        paths.append(_write(submission, period, out_dir, template_version))
    _write_receipts(out_dir, period, paths, seed)
    return paths


def write_year(
    year: str, out_root: Path, *, quarterly: bool = True, seed: int = 2022, template_version: str = CURRENT_TEMPLATE
) -> list[Path]:
    """Write a year of sample returns of the 18 real units under `out_root`: one folder per quarter
    (`out_root/2023Q1` .. `out_root/2023Q4`), or with `quarterly=False` the annual folder `out_root/2023`.

    The four quarters add up to the annual sample of the same seed: additive indicators sum to it exactly, a
    flag is the same all year, and each detail record sits in one quarter.
    """
    if not quarterly:
        return write_sample(year, out_root / year, seed=seed, template_version=template_version)
    _check_choices()
    paths = []
    for quarter, submissions in _reference_quarters(year, seed).items():
        (out_root / quarter).mkdir(parents=True, exist_ok=True)
        written = [_write(submission, quarter, out_root / quarter, template_version) for submission in submissions]
        _write_receipts(out_root / quarter, quarter, written, seed)
        paths += written
    return paths
