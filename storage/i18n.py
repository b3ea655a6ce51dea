"""The reports' words in Chinese and English: one table, as ``alerts/i18n.py`` does (pure).

Reports are Chinese by default (the stations are in China; ``DEFAULT_LANGUAGE`` is the
alert service's); ``carepulse report ... --lang en`` gives English. Numbers are formatted
by the caller and passed in as ``{placeholders}``; every key has both languages with the
same placeholders (a test checks it). Rule ids, station ids and pseudonyms are shown as
they are.
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
    # --- kinds of measurement
    "kind.blood_pressure": {"zh": "血压", "en": "Blood pressure"},
    "kind.weight": {"zh": "体重", "en": "Weight"},
    "kind.glucose": {"zh": "血糖", "en": "Blood glucose"},
    "kind.heart_rate": {"zh": "心率", "en": "Heart rate"},
    "kind.spo2": {"zh": "血氧", "en": "Blood oxygen"},
    "kind.temperature": {"zh": "体温", "en": "Temperature"},
    "kind.steps": {"zh": "步数", "en": "Steps"},
    "kind.body_composition": {"zh": "体成分", "en": "Body composition"},
    # --- fields, in plain words
    "field.systolic_mmhg": {"zh": "收缩压", "en": "systolic blood pressure"},
    "field.diastolic_mmhg": {"zh": "舒张压", "en": "diastolic blood pressure"},
    "field.mean_arterial_pressure_mmhg": {"zh": "平均动脉压", "en": "mean arterial pressure"},
    "field.pulse_rate_bpm": {"zh": "脉搏", "en": "pulse"},
    "field.heart_rate_bpm": {"zh": "心率", "en": "heart rate"},
    "field.weight_kg": {"zh": "体重", "en": "weight"},
    "field.bmi": {"zh": "BMI", "en": "BMI"},
    "field.spo2_percent": {"zh": "血氧饱和度", "en": "blood oxygen"},
    "field.temperature_c": {"zh": "体温", "en": "temperature"},
    "field.glucose_mmol_l": {"zh": "血糖", "en": "blood glucose"},
    "field.steps_count": {"zh": "步数", "en": "steps"},
    "field.body_fat_percent": {"zh": "体脂率", "en": "body fat"},
    # --- units that are words
    "unit.bpm": {"zh": "次/分", "en": "beats/min"},
    # --- guideline bands and their sources
    "band.systolic_mmhg": {"zh": "家庭血压目标低于135 mmHg", "en": "home target below 135 mmHg"},
    "band.diastolic_mmhg": {"zh": "家庭血压目标低于85 mmHg", "en": "home target below 85 mmHg"},
    "band.heart_rate_bpm": {"zh": "静息60-100次/分", "en": "resting 60-100 beats/min"},
    "band.pulse_rate_bpm": {"zh": "静息60-100次/分", "en": "resting 60-100 beats/min"},
    "band.spo2_percent": {"zh": "95%及以上", "en": "95 % or more"},
    "band.temperature_c": {"zh": "36.0-37.2 °C", "en": "36.0-37.2 °C"},
    "band.glucose_mmol_l": {"zh": "空腹3.9-6.1 mmol/L", "en": "fasting 3.9-6.1 mmol/L"},
    "band.bmi": {"zh": "BMI 18.5-23.9", "en": "BMI 18.5-23.9"},
    "source.home_bp": {
        "zh": "《中国高血压防治指南（2018年修订版）》（家庭血压）",
        "en": "2018 Chinese guidelines for the management of hypertension (home BP)",
    },
    "source.resting_hr": {"zh": "成人静息心率", "en": "adult resting heart rate"},
    "source.spo2": {"zh": "平原地区成人常见范围", "en": "usual adult range at sea level"},
    "source.temperature": {
        "zh": "腋温；37.3 °C及以上为发热",
        "en": "axillary; 37.3 °C or more is fever",
    },
    "source.glucose": {"zh": "WHO／中国糖尿病防治指南", "en": "WHO / Chinese diabetes guideline"},
    "source.bmi": {"zh": "中国 WS/T 428-2013", "en": "China WS/T 428-2013"},
    # --- resident report
    "resident.title": {"zh": "个人健康报告", "en": "Personal health report"},
    "resident.subtitle": {
        "zh": "居民 {short}… · 近{days}天 · 当地时间 {zone}",
        "en": "Resident {short}… · last {days} days · local time {zone}",
    },
    "resident.trend_title": {"zh": "{title}，近{days}天", "en": "{title}, last {days} days"},
    "resident.retention": {
        "zh": "测量数据保留{kept}天，日均值保留更久：图中的点为近{kept}天的测量，"
        "曲线和表格为全部{days}天的日均值。",
        "en": "Readings are kept for {kept} days and daily averages for longer: the dots show "
        "the last {kept} days of readings, the line and the tables the daily averages of all "
        "{days} days.",
    },
    "table.measure": {"zh": "指标", "en": "measure"},
    "table.readings": {"zh": "测量次数", "en": "readings"},
    "table.average": {"zh": "平均", "en": "average"},
    "table.lowest": {"zh": "最低", "en": "lowest"},
    "table.highest": {"zh": "最高", "en": "highest"},
    "table.start": {"zh": "期初", "en": "start of period"},
    "table.end": {"zh": "期末", "en": "end of period"},
    "table.in_band": {"zh": "在正常范围内", "en": "in usual range"},
    "note.bp": {
        "zh": "近{days}天您的平均血压为{systolic}/{diastolic} mmHg（共{count}次测量），{verdict}。",
        "en": "Your average blood pressure over the last {days} days was "
        "{systolic}/{diastolic} mmHg ({count} readings), {verdict}.",
    },
    "note.bp_within": {
        "zh": "在家庭血压目标（低于135/85 mmHg）以内",
        "en": "within the home target of below 135/85 mmHg",
    },
    "note.bp_above": {
        "zh": "高于家庭血压目标135/85 mmHg，请咨询您的医生或社区卫生工作人员",
        "en": "above the home target of 135/85 mmHg; please talk to your doctor or community "
        "health worker",
    },
    "note.bp_change": {
        "zh": "与期初相比，期末您的收缩压{direction}约{delta} mmHg。",
        "en": "Your systolic pressure is about {delta} mmHg {direction} at the end of the "
        "period than at its start.",
    },
    "word.lower": {"zh": "降低", "en": "lower"},
    "word.higher": {"zh": "升高", "en": "higher"},
    "note.average": {
        "zh": "您的平均{name}为{mean}{unit}（共{count}次测量，范围{low}至{high}）。",
        "en": "Your average {name} was {mean}{unit} ({count} readings, from {low} to {high}).",
    },
    "note.in_band": {
        "zh": "其中{share}的{of}在正常范围内（{label}）。",
        "en": " {share} of {of} were in the usual range ({label}).",
    },
    "of.readings": {"zh": "测量", "en": "readings"},
    "of.days": {"zh": "天数", "en": "days"},
    "note.change": {
        "zh": "这段时间您的{name}{direction}了约{delta}{unit}。",
        "en": "Your {name} went {direction} by about {delta}{unit} over the period.",
    },
    "word.up": {"zh": "上升", "en": "up"},
    "word.down": {"zh": "下降", "en": "down"},
    # --- figures
    "figure.daily_mean": {"zh": "{name}（日均值）", "en": "{name} (daily mean)"},
    "figure.day": {"zh": "日期", "en": "day"},
    "figure.resident": {"zh": "居民", "en": "resident"},
    "figure.readings": {"zh": "测量次数", "en": "readings"},
    "figure.heatmap": {"zh": "每位居民每天的测量次数", "en": "Readings per resident per day"},
    "figure.residents": {"zh": "人数", "en": "residents"},
    "figure.active": {"zh": "有测量的居民人数", "en": "Residents who measured anything"},
    # --- station report
    "station.title": {"zh": "站点报告：{station}", "en": "Station report: {station}"},
    "station.subtitle": {
        "zh": "近{days}天（{first}至{last}）· 当地时间 {zone}",
        "en": "Last {days} days ({first} to {last}) · local time {zone}",
    },
    "heading.coverage": {"zh": "覆盖率", "en": "Coverage"},
    "heading.participation": {"zh": "参与情况", "en": "Participation"},
    "heading.tasks": {"zh": "每日任务", "en": "Daily tasks"},
    "heading.behaviour": {"zh": "行为改变", "en": "Behaviour change"},
    "heading.alerts": {"zh": "预警", "en": "Alerts"},
    "heading.ack": {"zh": "预警响应时间", "en": "Time to acknowledge"},
    "coverage.enrolled": {
        "zh": "近{days}天，{enrolled}名登记居民中有{measured}人（{share}）至少测量过一次。",
        "en": "{measured} of {enrolled} enrolled residents ({share}) took at least one "
        "measurement in the last {days} days.",
    },
    "coverage.seen": {
        "zh": "近{days}天有{measured}名居民至少测量过一次；原始数据保留期内本站共出现过"
        "{seen}名居民（用 --enrolled N 可按站点登记人数计算覆盖率）。",
        "en": "{measured} residents took at least one measurement in the last {days} days, of "
        "{seen} seen at this station within the raw-data retention (pass --enrolled N for "
        "coverage against the station's register).",
    },
    "participation.average": {
        "zh": "平均每天有{average}名居民进行了测量（最少{low}人，最多{high}人）。",
        "en": "On an average day {average} residents measured something (lowest {low}, "
        "highest {high}).",
    },
    "participation.regular": {
        "zh": "{measured}名居民中有{regular}人在至少一半的天数里进行了测量。",
        "en": "{regular} of {measured} residents measured on at least half of the days.",
    },
    "task.morning": {"zh": "早晨血压（05:00-10:00）", "en": "Morning blood pressure (05:00-10:00)"},
    "task.morning_done": {"zh": "测量了早晨血压", "en": "took a morning blood-pressure reading"},
    "task.steps": {"zh": "步数目标（{target}步）", "en": "Step goal ({target} steps)"},
    "task.steps_done": {"zh": "达到{target}步", "en": "reached {target} steps"},
    "task.note": {
        "zh": "{title}：平均每天有{average}名居民（占有测量居民的{share}）{done}。",
        "en": "{title}: on an average day {average} residents ({share} of those measuring) {done}.",
    },
    "change.systolic": {"zh": "收缩压", "en": "Systolic blood pressure"},
    "change.bmi": {"zh": "BMI", "en": "BMI"},
    "change.bmi_step": {"zh": "0.3（约1公斤）", "en": "0.3 (about 1 kg)"},
    "change.none": {
        "zh": "{name}：没有居民在期初达到或超过{target}且有满两周的测量，因此无变化可报告。",
        "en": "{name}: no resident started the period at or above {target} with two full "
        "weeks of readings, so there is no change to report.",
    },
    "change.some": {
        "zh": "{name}：期初达到或超过{target}的{eligible}名居民中，有{improved}人（{share}）"
        "向目标改善——最后一周的平均值低于{target}，或比第一周至少低{step}。",
        "en": "{name}: {improved} of {eligible} residents who started at or above {target} "
        "({share}) moved toward target — their last week's average is below {target} or at "
        "least {step} lower than their first week's.",
    },
    "change.too_short": {
        "zh": "行为改变至少需要14天的数据：请用 --days 14 或更长的时间运行报告。",
        "en": "Behaviour change needs at least 14 days: run the report with --days 14 or more.",
    },
    "alerts.rule": {"zh": "规则", "en": "rule"},
    "alerts.raised": {"zh": "预警次数", "en": "alerts raised"},
    "alerts.none": {"zh": "本期间没有预警。", "en": "No alerts were raised in this period."},
    "ack.unavailable": {
        "zh": "无法获得预警响应时间：{problem}",
        "en": "Time to acknowledge is not available: {problem}",
    },
    "ack.not_read": {
        "zh": "未读取预警响应时间（报告运行时未使用预警服务的案例库）。",
        "en": "Time to acknowledge was not read (the report was run without the alert case store).",
    },
    "ack.severity": {"zh": "级别", "en": "severity"},
    "ack.cases": {"zh": "案例数", "en": "cases"},
    "ack.acknowledged": {"zh": "已确认", "en": "acknowledged"},
    "ack.median": {"zh": "中位时间", "en": "median"},
    "ack.p90": {"zh": "第90百分位", "en": "90th percentile"},
    "ack.within": {"zh": "达标", "en": "within target"},
    "ack.within_of": {"zh": "{due}个中{share}", "en": "{share} of {due}"},
    "ack.all_rules": {"zh": "全部规则", "en": "all rules"},
    "ack.all": {"zh": "全部", "en": "all"},
    "ack.explained": {
        "zh": "数据来自预警服务的案例库：本期间产生的健康预警案例，从预警产生计时到首次确认"
        "（认领、电话或上门尝试、或移交）。达标指在该级别的响应目标"
        "（CAREPULSE_RESPONSE_MINUTES）内确认。",
        "en": "From the alert service's case store: clinical alert cases opened in the period, "
        "timed from the alert to its first acknowledgement (a claim, a call or visit attempt, or a "
        "hand-over). Targets are the service's response targets per severity "
        "(CAREPULSE_RESPONSE_MINUTES).",
    },
    "ack.none": {
        "zh": "近{days}天没有健康预警案例。",
        "en": "No clinical alert cases were opened in the last {days} days.",
    },
    "ack.summary": {
        "zh": "近{days}天共产生{raised}个健康预警案例（同一居民同一规则的重复预警计为一个），"
        "其中{acknowledged}个已被确认（认领、电话联系或移交）",
        "en": "{raised} clinical alert cases were opened in the last {days} days (repeated "
        "alerts for the same resident and rule count once) and {acknowledged} were "
        "acknowledged (claimed, called or handed over)",
    },
    "ack.summary_times": {
        "zh": "；从预警到确认的中位时间为{median}（第90百分位为{p90}）",
        "en": "; the median time from alert to acknowledgement was {median} (90th percentile "
        "{p90})",
    },
    "ack.summary_target": {
        "zh": "。已到期的{due}个案例中，{share}在其级别的响应目标内得到确认",
        "en": ". {share} of the {due} cases due were acknowledged within their severity's "
        "response target",
    },
    "ack.summary_end": {"zh": "。", "en": "."},
    "severity.emergency": {"zh": "紧急", "en": "emergency"},
    "severity.urgent": {"zh": "当天处理", "en": "urgent"},
    "severity.follow-up": {"zh": "随访", "en": "follow-up"},
    "severity.engagement": {"zh": "健康促进", "en": "engagement"},
    "duration.minutes": {"zh": "{n}分钟", "en": "{n} min"},
    "duration.hours": {"zh": "{n}小时", "en": "{n} h"},
    "duration.days": {"zh": "{n}天", "en": "{n} days"},
    # --- frame
    "footer": {
        "zh": "由 carepulse {version} 于 {generated} 生成。参考范围来源：{sources}。",
        "en": "Generated {generated} by carepulse {version}. Guideline bands: {sources}.",
    },
    "list.separator": {"zh": "；", "en": "; "},
}


def translate(key: str, language: str, **values: object) -> str:
    """The text of ``key`` in ``language`` (falls back to Chinese, then to the key itself)."""
    return lookup(MESSAGES, key, language, **values)


def check_language(language: str) -> str:
    """``language`` if the reports speak it, else a ``ValueError`` naming the choices."""
    if language not in LANGUAGES:
        msg = f"language {language!r}: reports are in {' or '.join(LANGUAGES)}"
        raise ValueError(msg)
    return language
