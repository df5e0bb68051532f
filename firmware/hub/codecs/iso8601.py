"""UTC seconds <-> "YYYY-MM-DDTHH:MM:SSZ", independent of the port's epoch.

Its own module so it is loaded (onto the heap) only once a time command runs.
"""

_MDAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z):
    """(y, m, d) of a day number since 1970-01-01."""
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def iso(utc):
    """Format Unix seconds as YYYY-MM-DDTHH:MM:SSZ."""
    days, s = divmod(int(utc), 86400)
    y, m, d = civil_from_days(days)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, m, d, s // 3600, s // 60 % 60, s % 60)


def parse_iso(s):
    """Parse exactly YYYY-MM-DDTHH:MM:SSZ (years 2000..2099); ValueError otherwise."""
    if not isinstance(s, str) or len(s) != 20:
        raise ValueError("want YYYY-MM-DDTHH:MM:SSZ")
    # Its bytes, against a pattern (0: a digit): a str's characters would each become a name (codecs.is_hex).
    for c, want in zip(s.encode(), b"0000-00-00T00:00:00Z"):
        if not (48 <= c <= 57 if want == 48 else c == want):
            raise ValueError("want YYYY-MM-DDTHH:MM:SSZ")
    y, mo, d = int(s[0:4]), int(s[5:7]), int(s[8:10])
    hh, mm, ss = int(s[11:13]), int(s[14:16]), int(s[17:19])
    if not 2000 <= y <= 2099 or not 1 <= mo <= 12:
        raise ValueError("date out of range")
    mdays = _MDAYS[mo - 1] + (mo == 2 and y % 4 == 0)  # 2000 is a leap year
    if not 1 <= d <= mdays or hh > 23 or mm > 59 or ss > 59:
        raise ValueError("date out of range")
    return days_from_civil(y, mo, d) * 86400 + hh * 3600 + mm * 60 + ss
