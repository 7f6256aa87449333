"""Quartz cron, business calendars, substitution and DST: when a schedule fires.

Pure functions of their inputs: nothing here reads the clock or does I/O.

- :mod:`jsbus.cron.quartz`: ``QuartzCron.parse(expression)``, ``next_wall(after)``;
- :mod:`jsbus.cron.calendar`: ``BusinessCalendar`` (holidays, weekly holidays, day-start) and
  the calendar validation helpers;
- :mod:`jsbus.cron.plan`: ``SchedulePlan`` (zone and DST rules, calendar, substitution) and
  ``Fire``;
- :mod:`jsbus.cron.fields` (the fields and day rules) and :mod:`jsbus.cron.zone` (gaps, folds).
"""
from jsbus.cron.errors import CronError
from jsbus.cron.calendar import BusinessCalendar
from jsbus.cron.quartz import QuartzCron
from jsbus.cron.plan import Fire, SchedulePlan

__all__ = ["BusinessCalendar", "CronError", "Fire", "QuartzCron", "SchedulePlan"]
