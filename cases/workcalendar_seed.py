"""Holidays and adjusted working days from the chinese-calendar package.

Only the exceptions to "Monday to Friday" are stored: statutory holidays on
weekdays and working weekend days. Used by a data migration and by
``manage.py sync_work_calendar``.
"""

HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}


def calendar_entries(first_year: int = 2020):
    import chinese_calendar

    for day, holiday in sorted(chinese_calendar.holidays.items()):
        if day.year >= first_year and day.weekday() < 5:
            yield day, False, HOLIDAY_NAMES.get(str(holiday), str(holiday))
    for day, holiday in sorted(chinese_calendar.workdays.items()):
        if day.year >= first_year and day.weekday() >= 5:
            yield day, True, "调休上班" + (f"（{HOLIDAY_NAMES.get(str(holiday), str(holiday))}）" if holiday else "")


def covered_years() -> range:
    import chinese_calendar

    return range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)
