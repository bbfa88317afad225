"""What the portal's pages say in Chinese of what is kept in English: the audit trail's details and the output of a
job (the command line's own `union-stats run`, `close` and `reopen`, whose output stays English for the console).

The audit trail keeps its details as `key=value` words for the record (and for `union-stats sql`-like reading of
`portal.sqlite`); the office reads them here in Chinese. A job's output is kept whole, and its page shows what it
comes to: the outcome, the files, the figures, or why it failed and what to do.
"""

from __future__ import annotations

import re
from datetime import datetime

from union_stats import labels, office_time

ACTION_ZH = {
    "add": "开设账户",
    "reset": "重置密码",
    "disable": "停用账户",
    "unlock": "解除登录锁定",
    "login_ok": "登录",
    "login_failed": "登录失败",
    "login_throttled": "登录被拒绝（暂时锁定）",
    "logout": "退出",
    "upload": "上传报表",
    "upload_not_checked": "上传未能检查（超时），未保存",
    "explain": "填写说明",
    "approve": "审核通过",
    "return": "退回",
    "job_started": "开始操作",
    "job_finished": "操作结束",
    "open_period": "开放网上报送",
    "stop_period": "停止网上报送",
    "export": "导出",
}
STATUS_ZH = labels.outcomes("audit_zh")
JOB_ZH = {"run": "运行入库", "close": "关账", "reopen": "重新开放"}
DECISION_ZH = {"approved": "已审核通过", "returned": "已退回"}
ROLE_ZH = {"unit": "基层单位", "office": "区总工会"}
REASON_ZH = {
    "unknown user": "用户名不存在",
    "disabled": "账户已停用",
    "wrong password": "密码错误",
    "CheckTimedOut": "检查超时",
    "CheckCrashed": "检查进程中断",
}
SCOPE_ZH = {"pair": "该账户在此地址", "address": "此地址的所有账户", "name": "该账户在所有地址"}
DETAIL = re.compile(r"(\w+)([=>])(\S+)")


def when_zh(moment: str) -> str:
    try:
        return datetime.fromisoformat(moment).astimezone(office_time.zone()).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return moment


# each audit detail's key, worded in Chinese from (its value, the sign before it, the units' names)
DETAIL_WORDS = {
    "unit": lambda value, sign, names: f"单位：{names.get(value, value)}",
    "period": lambda value, sign, names: f"统计期：{value}",
    "status": lambda value, sign, names: f"检查结果：{STATUS_ZH.get(value, value)}",
    "stored": lambda value, sign, names: f"保存为：{value}",
    "placed": lambda value, sign, names: "已放入入库文件夹" if value == "1" else "未放入入库文件夹（不会入库）",
    "upload": lambda value, sign, names: f"上传记录：第 {value} 号",
    "items": lambda value, sign, names: f"说明：{value} 条",
    "job": lambda value, sign, names: f"操作编号：{value}",
    "kind": lambda value, sign, names: f"操作：{JOB_ZH.get(value, value)}",
    "exit": lambda value, sign, names: "结果：成功" if value == "0" else f"结果：失败（退出码 {value}）",
    "role": lambda value, sign, names: f"角色：{ROLE_ZH.get(value, value)}",
    "scope": lambda value, sign, names: f"锁定范围：{SCOPE_ZH.get(value, value)}",
    "until": lambda value, sign, names: f"锁定至：{when_zh(value)}",
    "cells": lambda value, sign, names: f"单元格：超过 {value} 个" if sign == ">" else f"单元格：{value} 个",
    "seconds": lambda value, sign, names: f"限时：{value} 秒",
    "reason": lambda value, sign, names: f"原因：{REASON_ZH.get(value, value)}",
}


def detail_zh(action: str, detail: str, unit_names: dict[str, str]) -> str:
    """An audit line's details in Chinese (`unit=shiqiao period=2022 status=accepted ...`); a detail that is not
    made of `key=value` words is shown as kept (the login failures' reasons are translated)."""
    if detail in REASON_ZH:
        return REASON_ZH[detail]
    pairs = DETAIL.findall(detail)
    if not pairs:
        return detail
    return "；".join(
        DETAIL_WORDS[key](value, sign, unit_names) if key in DETAIL_WORDS else f"{key}：{value}"
        for key, sign, value in pairs
    )


# --- a job's output --------------------------------------------------------------------------------------------------

RUN_DONE = re.compile(
    r"period (\S+): (\d+) files, (\d+) new: (\d+) accepted, (\d+) rejected, (\d+) held; (.*?); warehouse "
)
RUN_NOTHING_NEW = re.compile(r"period (\S+): nothing new since the last run \(every file is in the warehouse\); (.*)")
MATCHED = re.compile(r"(\d+) of (\d+) figures match")
UNREPORTED = re.compile(r"(\d+) of (\d+) units with an accepted file; (\d+) of (\d+) figures complete")
REJECTED = re.compile(r"^rejected (.+?): (.*)$", re.MULTILINE)
LOCK_DONE = re.compile(r"period (\S+) (is now|was already) (closed|open)")
FAILED = re.compile(r"error: (.*)")


def _outcome_zh(text: str) -> str:
    matched = MATCHED.search(text)
    if matched:
        return f"全区数据 {matched.group(2)} 项，其中 {matched.group(1)} 项与已发布的报告一致"
    unreported = UNREPORTED.search(text)
    if unreported:
        accepted, units, complete, figures = unreported.groups()
        return (
            f"{units} 个单位中 {accepted} 个有通过的文件；全区数据 {figures} 项中 {complete} 项数据齐全；"
            "本期没有已发布的报告可供核对"
        )
    return ""


def failure_zh(line: str) -> str:
    """Why a job failed, in Chinese, with what to do (the command line's one line of failure)."""
    if "no warehouse at" in line:
        return "仓库还没有建立：请先“运行入库”。"
    if line.startswith("run failed: no folder") or line.startswith("run failed: no period folder"):
        return "这个统计期还没有收到任何文件（入库文件夹不存在），没有可入库的内容。"
    if "cannot use the warehouse" in line or "lock" in line.lower() or "busy" in line.lower():
        return "仓库正被其他程序使用（可能正在运行入库或查询），请稍后再试。"
    return "操作未能完成。详细原因已记录在服务器上（操作记录中的本次操作），请联系系统管理员。"


def job_summary_zh(kind: str, period: str, exit_code: int | None, output: str) -> list[str]:
    """What a finished job came to, in Chinese, one sentence a line (its output is the command line's, English)."""
    if exit_code is None:
        return [f"{JOB_ZH.get(kind, kind)} {period} 正在进行。"]
    flat = " ".join(output.split())
    lines = []
    if exit_code != 0:
        failed = FAILED.search(flat)
        lines.append(f"{JOB_ZH.get(kind, kind)} {period} 失败。")
        if "the portal stopped while this job ran" in flat:
            lines.append("报送平台在操作进行中停止，操作没有完成：请重新开始这项操作。")
        else:
            lines.append(failure_zh(failed.group(1) if failed else ""))
        return lines
    done = RUN_DONE.search(flat)
    nothing_new = RUN_NOTHING_NEW.search(flat)
    locked = LOCK_DONE.search(flat)
    if done:
        _, files, new, accepted, rejected, held, outcome = done.groups()
        lines.append(
            f"统计期 {period} 运行入库成功：文件夹中共 {files} 个文件，本次新处理 {new} 个，其中通过 {accepted} 个、"
            f"未通过 {rejected} 个、关账暂存 {held} 个。"
        )
        if said := _outcome_zh(outcome):
            lines.append(f"{said}（详见“全区数据”）。")
        for file_name, reason in REJECTED.findall(output):
            lines.append(f"未通过的文件：{file_name.strip()}：{reason.strip()}")
    elif nothing_new:
        lines.append(f"统计期 {period}：自上次运行以来没有新文件，所有文件都已在仓库中。")
        if said := _outcome_zh(nothing_new.group(2)):
            lines.append(f"{said}（详见“全区数据”）。")
    elif locked:
        state = "已关账" if locked.group(3) == "closed" else "已重新开放"
        lines.append(
            f"统计期 {period} {state}。" if locked.group(2) == "is now" else f"统计期 {period} 原本就{state}。"
        )
        if locked.group(3) == "open" and locked.group(2) == "is now":
            lines.append("关账期间收到的文件将在下次“运行入库”时入库。")
    else:
        lines.append(f"{JOB_ZH.get(kind, kind)} {period} 已完成。")
    return lines
