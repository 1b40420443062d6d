# 1 ธ.ค. 2026 · 1 ธ.ค. 2026 23:59 (the Gregorian year, as in international correspondence)
DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y H:i"
