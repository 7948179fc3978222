"""Uzbek in Cyrillic script: Django's Latin Uzbek formats with the year word in Cyrillic."""

DATE_FORMAT = r"j-E, Y-\й\и\л"
DATETIME_FORMAT = r"j-E, Y-\й\и\л G:i"
YEAR_MONTH_FORMAT = r"F Y-\й\и\л"
MONTH_DAY_FORMAT = "j-E"
