"""Quartz cron, business calendars, substitution and DST: when a schedule fires.

Pure functions of their inputs: nothing here reads the clock or does I/O.
"""
