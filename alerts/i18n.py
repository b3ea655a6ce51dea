"""One translation table for every label the alert service shows (Chinese and English).

Templates call ``t("key")``; the API returns codes (``"claimed"``, ``"home_visit"``) and
leaves wording to its clients. Every key must have both languages: a test checks it.
Reasons written by the rules come from the stream in the rules file's language and are
shown as they are.
"""

# ruff: noqa: RUF001 - Chinese text uses fullwidth punctuation (comma, colon, brackets) on purpose

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from carepulse.i18n import DEFAULT_LANGUAGE as DEFAULT_LANGUAGE
from carepulse.i18n import LANGUAGES as LANGUAGES
from carepulse.i18n import lookup

#: key -> {language -> text}
MESSAGES: Final[Mapping[str, Mapping[str, str]]] = {
    # --- frame and navigation
    "app.title": {"zh": "社区健康预警", "en": "Community health alerts"},
    "nav.queue": {"zh": "待办队列", "en": "Queue"},
    "nav.technical": {"zh": "设备问题", "en": "Device issues"},
    "nav.residents": {"zh": "居民", "en": "Residents"},
    "nav.station": {"zh": "站点概况", "en": "Station"},
    "nav.silences": {"zh": "静默", "en": "Silences"},
    "nav.users": {"zh": "用户", "en": "Users"},
    "nav.rules": {"zh": "规则", "en": "Rules"},
    "nav.audit": {"zh": "审计日志", "en": "Audit log"},
    "nav.logout": {"zh": "退出", "en": "Sign out"},
    "nav.language": {"zh": "English", "en": "中文"},
    "live.connected": {"zh": "实时更新", "en": "Live"},
    "live.offline": {"zh": "连接中断，正在重连", "en": "Reconnecting"},
    # --- login
    "login.title": {"zh": "登录", "en": "Sign in"},
    "login.username": {"zh": "用户名", "en": "Username"},
    "login.password": {"zh": "密码", "en": "Password"},
    "login.submit": {"zh": "登录", "en": "Sign in"},
    "login.failed": {"zh": "用户名或密码错误", "en": "Wrong username or password"},
    # --- severities, categories, states
    "severity.emergency": {"zh": "紧急", "en": "Emergency"},
    "severity.urgent": {"zh": "当天处理", "en": "Urgent"},
    "severity.follow-up": {"zh": "随访", "en": "Follow-up"},
    "severity.engagement": {"zh": "健康促进", "en": "Engagement"},
    "category.clinical": {"zh": "健康", "en": "Clinical"},
    "category.technical": {"zh": "设备", "en": "Technical"},
    "state.open": {"zh": "待认领", "en": "Open"},
    "state.claimed": {"zh": "已认领", "en": "Claimed"},
    "state.in_progress": {"zh": "处理中", "en": "In progress"},
    "state.follow_up": {"zh": "待随访", "en": "Follow-up scheduled"},
    "state.closed": {"zh": "已结案", "en": "Closed"},
    # --- outcomes and attempt results
    "outcome.reached": {"zh": "已联系上", "en": "Reached"},
    "outcome.home_visit": {"zh": "已上门", "en": "Home visit"},
    "outcome.referred": {"zh": "已转诊", "en": "Referred"},
    "outcome.false_alarm": {"zh": "误报", "en": "False alarm"},
    "outcome.device_issue": {"zh": "设备问题", "en": "Device issue"},
    "outcome.declined": {"zh": "居民拒绝", "en": "Declined"},
    "outcome.cleared": {"zh": "读数恢复，自动结案", "en": "Cleared (readings back to normal)"},
    "attempt.reached": {"zh": "已接通", "en": "Reached"},
    "attempt.no_answer": {"zh": "无人接听", "en": "No answer"},
    "attempt.busy": {"zh": "占线", "en": "Busy"},
    "attempt.wrong_number": {"zh": "号码错误", "en": "Wrong number"},
    "attempt.left_message": {"zh": "已留言", "en": "Left a message"},
    "attempt.visited": {"zh": "已上门见到", "en": "Visited"},
    "attempt.not_home": {"zh": "上门未遇", "en": "Not at home"},
    "attempt.family_reached": {"zh": "已联系家属", "en": "Family reached"},
    # --- queue
    "queue.title": {"zh": "待办队列", "en": "Alert queue"},
    "queue.technical_title": {
        "zh": "设备问题（不进入健康队列）",
        "en": "Device issues (kept out of the clinical queue)",
    },
    "queue.empty": {"zh": "没有待处理的预警", "en": "Nothing waiting"},
    "queue.overdue": {"zh": "已超时", "en": "Overdue"},
    "queue.opened": {"zh": "发生于", "en": "Opened"},
    "queue.repeats": {"zh": "重复次数", "en": "Repeats"},
    "queue.assignee": {"zh": "负责人", "en": "Owner"},
    "queue.unassigned": {"zh": "无人认领", "en": "Unclaimed"},
    "queue.escalated": {"zh": "已升级", "en": "Escalated"},
    "queue.muted": {"zh": "被更高级预警覆盖", "en": "Muted by a more urgent case"},
    "queue.silenced": {"zh": "已静默", "en": "Silenced"},
    "queue.cleared": {"zh": "读数已恢复", "en": "Readings back to normal"},
    "queue.due": {"zh": "随访日期", "en": "Due"},
    "queue.count": {"zh": "共 {n} 条", "en": "{n} cases"},
    "queue.more": {"zh": "显示更多", "en": "Show more"},
    "queue.station": {"zh": "站点", "en": "Station"},
    "queue.resident": {"zh": "居民", "en": "Resident"},
    "queue.reason": {"zh": "原因", "en": "Reason"},
    "queue.quiet_hours": {
        "zh": "现在是安静时段：非紧急事项请勿电话联系",
        "en": "Quiet hours: no phone calls for non-urgent cases",
    },
    "queue.new_cases": {"zh": "有新的预警", "en": "New cases arrived"},
    # --- filters
    "filter.title": {"zh": "筛选", "en": "Filter"},
    "filter.severity": {"zh": "级别", "en": "Severity"},
    "filter.state": {"zh": "状态", "en": "State"},
    "filter.any": {"zh": "全部", "en": "Any"},
    "filter.condition": {"zh": "慢病", "en": "Condition"},
    "filter.no_checkin_days": {"zh": "未测量天数 ≥", "en": "No check-in for days ≥"},
    "filter.rule": {"zh": "规则", "en": "Rule"},
    "filter.mine": {"zh": "只看我的", "en": "Mine only"},
    "filter.overdue": {"zh": "只看超时", "en": "Overdue only"},
    "filter.show_muted": {"zh": "含被覆盖/静默", "en": "Include muted and silenced"},
    "filter.apply": {"zh": "筛选", "en": "Apply"},
    "filter.reset": {"zh": "清除", "en": "Reset"},
    "filter.save_as": {"zh": "保存为人群筛选", "en": "Save as cohort filter"},
    "filter.name": {"zh": "名称", "en": "Name"},
    "filter.saved": {"zh": "已保存的人群", "en": "Saved cohorts"},
    "filter.delete": {"zh": "删除", "en": "Delete"},
    "filter.shared": {"zh": "全站共享", "en": "Shared with my station"},
    # --- case page
    "case.title": {"zh": "预警详情", "en": "Case"},
    "case.reason": {"zh": "为什么提醒", "en": "Why this alert"},
    "case.rule": {"zh": "规则", "en": "Rule"},
    "case.source": {"zh": "依据", "en": "Source"},
    "case.evidence": {"zh": "相关读数", "en": "Readings"},
    "case.window": {"zh": "时间窗口", "en": "Window"},
    "case.measured_at": {"zh": "测量时间", "en": "Measured"},
    "case.kind": {"zh": "类型", "en": "Kind"},
    "case.values": {"zh": "数值", "en": "Values"},
    "case.trend": {"zh": "趋势图", "en": "Trend"},
    "case.trend_unavailable": {
        "zh": "趋势图暂不可用（需要 InfluxDB 趋势查询 storage.queries）",
        "en": "Trend chart not available yet (needs the InfluxDB trend query, storage.queries)",
    },
    "case.actions": {"zh": "操作", "en": "Actions"},
    "case.history": {"zh": "处理记录", "en": "History"},
    "case.claim": {"zh": "认领", "en": "Claim"},
    "case.unclaim": {"zh": "退回队列", "en": "Give back"},
    "case.transfer": {"zh": "转交", "en": "Transfer"},
    "case.transfer_to": {"zh": "转交给", "en": "Transfer to"},
    "case.attempt": {"zh": "记录联系", "en": "Log contact attempt"},
    "case.attempt_result": {"zh": "结果", "en": "Result"},
    "case.note": {"zh": "添加备注", "en": "Add note"},
    "case.note_text": {"zh": "备注", "en": "Note"},
    "case.schedule": {"zh": "安排随访", "en": "Schedule follow-up"},
    "case.due_date": {"zh": "随访日期", "en": "Follow-up date"},
    "case.resolve": {"zh": "结案", "en": "Resolve"},
    "case.outcome": {"zh": "结果", "en": "Outcome"},
    "case.reopen": {"zh": "重新打开", "en": "Re-open"},
    "case.reopen_reason": {"zh": "重新打开的原因", "en": "Why re-open"},
    "case.silence": {"zh": "静默", "en": "Silence"},
    "case.silence_until": {"zh": "静默至", "en": "Silence until"},
    "case.silence_reason": {"zh": "静默原因", "en": "Reason"},
    "case.cannot_silence": {"zh": "紧急预警不能静默", "en": "Emergencies cannot be silenced"},
    "case.other_open": {"zh": "该居民的其他待办", "en": "Other open cases of this resident"},
    "case.call": {"zh": "拨打", "en": "Call"},
    "case.consent_missing": {"zh": "未登记同意书", "en": "No consent on record"},
    "case.unknown_resident": {
        "zh": "未登记的居民（仅有匿名编号）",
        "en": "Resident not registered here (pseudonym only)",
    },
    "case.quiet_hours_warning": {
        "zh": "现在是安静时段：非紧急事项请明天再联系",
        "en": "Quiet hours: contact non-urgent cases tomorrow",
    },
    "case.changed": {"zh": "已保存", "en": "Saved"},
    "case.referral_due": {"zh": "转诊随访日期", "en": "Referral follow-up date"},
    "case.escalation_level": {"zh": "升级级别", "en": "Escalation level"},
    # --- history event kinds
    "event.fire": {"zh": "再次触发", "en": "Fired again"},
    "event.fire_worse": {"zh": "加重", "en": "Got worse"},
    "event.opened": {"zh": "新预警", "en": "Opened"},
    "event.clear_auto": {"zh": "读数恢复", "en": "Rule cleared"},
    "event.clear_keep": {
        "zh": "读数恢复（需人工结案）",
        "en": "Rule cleared (needs a person to close)",
    },
    "event.claim": {"zh": "认领", "en": "Claimed"},
    "event.unclaim": {"zh": "退回队列", "en": "Given back"},
    "event.transfer": {"zh": "转交", "en": "Transferred"},
    "event.attempt": {"zh": "联系尝试", "en": "Contact attempt"},
    "event.note": {"zh": "备注", "en": "Note"},
    "event.schedule": {"zh": "安排随访", "en": "Follow-up scheduled"},
    "event.refer": {"zh": "转诊", "en": "Referred"},
    "event.resolve": {"zh": "结案", "en": "Resolved"},
    "event.reopen": {"zh": "重新打开", "en": "Re-opened"},
    "event.escalate": {"zh": "无人响应，已升级", "en": "Escalated: nobody acknowledged"},
    "event.ack_timeout": {
        "zh": "认领后长时间未处理，重新打开",
        "en": "Re-opened: no activity since claimed",
    },
    "event.follow_up_due": {"zh": "随访到期", "en": "Follow-up due"},
    "event.system": {"zh": "系统", "en": "System"},
    # --- residents
    "resident.title": {"zh": "居民档案", "en": "Resident"},
    "resident.name": {"zh": "姓名", "en": "Name"},
    "resident.phone": {"zh": "电话", "en": "Phone"},
    "resident.conditions": {"zh": "慢病", "en": "Conditions"},
    "resident.consent": {"zh": "知情同意", "en": "Consent"},
    "resident.consent_given": {"zh": "已同意", "en": "Given"},
    "resident.consent_withdrawn": {"zh": "已撤回", "en": "Withdrawn"},
    "resident.last_checkin": {"zh": "最近测量", "en": "Last check-in"},
    "resident.never": {"zh": "从未", "en": "Never"},
    "resident.cases": {"zh": "预警记录", "en": "Cases"},
    "resident.pseudonym": {"zh": "匿名编号", "en": "Pseudonym"},
    "resident.none": {"zh": "没有居民", "en": "No residents"},
    # --- station
    "station.title": {"zh": "站点概况", "en": "Station overview"},
    "station.open_by_severity": {"zh": "各级别待办数", "en": "Open cases by severity"},
    "station.time_to_ack": {
        "zh": "响应时间（中位数 / 90%）",
        "en": "Time to acknowledge (median / p90)",
    },
    "station.false_alarm_rate": {"zh": "各规则误报率", "en": "False-alarm rate per rule"},
    "station.closed": {"zh": "已结案", "en": "Closed"},
    "station.false_alarms": {"zh": "误报", "en": "False alarms"},
    "station.participation": {
        "zh": "居民参与（按日有数据的居民）",
        "en": "Participation (residents with data per day)",
    },
    "station.completion": {"zh": "按时处理率", "en": "Handled on time"},
    "station.minutes": {"zh": "分钟", "en": "min"},
    "station.no_data": {"zh": "暂无数据", "en": "No data yet"},
    "station.small_cell": {"zh": "少于5人，不显示", "en": "fewer than 5, hidden"},
    "station.days": {"zh": "天", "en": "days"},
    # --- silences
    "silence.title": {"zh": "静默", "en": "Silences"},
    "silence.author": {"zh": "设置人", "en": "Author"},
    "silence.until": {"zh": "截止", "en": "Until"},
    "silence.reason": {"zh": "原因", "en": "Reason"},
    "silence.end_now": {"zh": "立即结束", "en": "End now"},
    "silence.none": {"zh": "没有生效的静默", "en": "No active silences"},
    "silence.matches": {"zh": "范围", "en": "Matches"},
    "silence.all_rules": {"zh": "所有规则", "en": "all rules"},
    # --- users and rules (admin)
    "users.title": {"zh": "用户管理", "en": "Users"},
    "users.add": {"zh": "添加用户", "en": "Add user"},
    "users.role": {"zh": "角色", "en": "Role"},
    "users.station": {"zh": "站点", "en": "Station"},
    "users.display_name": {"zh": "显示名称", "en": "Display name"},
    "users.active": {"zh": "启用", "en": "Active"},
    "role.social_worker": {"zh": "社工", "en": "Social worker"},
    "role.doctor": {"zh": "医生", "en": "Doctor"},
    "role.supervisor": {"zh": "主管", "en": "Supervisor"},
    "role.admin": {"zh": "管理员", "en": "Administrator"},
    "rules.title": {"zh": "规则与时限", "en": "Rules and timings"},
    "rules.escalation": {"zh": "升级间隔（分钟）", "en": "Escalation step (min)"},
    "rules.ack_timeout": {"zh": "认领超时（分钟）", "en": "Acknowledged timeout (min)"},
    "rules.response": {"zh": "响应目标（分钟）", "en": "Response target (min)"},
    "rules.seen": {"zh": "出现过的规则", "en": "Rules seen"},
    "rules.quiet_hours": {"zh": "安静时段", "en": "Quiet hours"},
    # --- audit
    "audit.title": {"zh": "审计日志（只增不改）", "en": "Audit log (append-only)"},
    "audit.at": {"zh": "时间", "en": "Time"},
    "audit.user": {"zh": "用户", "en": "User"},
    "audit.action": {"zh": "操作", "en": "Action"},
    "audit.entity": {"zh": "对象", "en": "Record"},
    "audit.export": {"zh": "导出待办（CSV）", "en": "Export cases (CSV)"},
    # --- generic
    "common.save": {"zh": "保存", "en": "Save"},
    "common.cancel": {"zh": "取消", "en": "Cancel"},
    "common.back": {"zh": "返回", "en": "Back"},
    "common.none": {"zh": "无", "en": "None"},
    "common.yes": {"zh": "是", "en": "Yes"},
    "common.no": {"zh": "否", "en": "No"},
    "common.ago_minutes": {"zh": "{n} 分钟前", "en": "{n} min ago"},
    "common.ago_hours": {"zh": "{n} 小时前", "en": "{n} h ago"},
    "common.ago_days": {"zh": "{n} 天前", "en": "{n} days ago"},
    "common.just_now": {"zh": "刚刚", "en": "just now"},
    "error.forbidden": {"zh": "您无权查看或操作此内容", "en": "You may not see or do this"},
    "error.not_found": {"zh": "未找到", "en": "Not found"},
    "error.csrf": {
        "zh": "页面已过期，请刷新后重试",
        "en": "This page expired; reload it and try again",
    },
    "error.invalid": {"zh": "无法执行", "en": "Not possible"},
}


def translate(key: str, language: str, **values: object) -> str:
    """The text of ``key`` in ``language`` (falls back to Chinese, then to the key itself)."""
    return lookup(MESSAGES, key, language, **values)


def pick_language(requested: str | None, accept_language: str | None = None) -> str:
    """The language to use: an explicit choice, else the browser's preference, else Chinese."""
    if requested in LANGUAGES:
        return requested
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("en"):
            return "en"
        if tag.startswith("zh"):
            return "zh"
    return DEFAULT_LANGUAGE
