//! Times as an agent reads them: in their own time zone, relative while it is still today
//! where they are ("just now", "3 min ago", "2 h ago"), a date and time otherwise, and the
//! exact time for hover and assistive technology. Pure functions of the time, the clock
//! and the UTC offset, so the rule is tested natively and the widget only supplies the
//! browser's offset and clock.

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Milliseconds since the epoch of an RFC 3339 time as the server writes them
/// (`2026-11-25T10:00:00.000Z`; fractions and a `±hh:mm` offset are read too).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &frac[..digits.min(3)]);
        millis = padded.parse::<i64>().ok()?;
        rest = &frac[digits..];
    }
    let offset_min = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(s.len() - 5, 2)?, num(s.len() - 2, 2)?);
            let off = h * 60 + m;
            if *sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month as u32, day as u32);
    Some(
        days * DAY + hour * HOUR + minute * MINUTE + second.min(59) * 1000 + millis
            - offset_min * MINUTE,
    )
}

/// A wall-clock reading: year, month, day, hour, minute, second.
type Civil = (i64, u32, u32, u32, u32, u32);

/// The wall clock at `ms` in the zone `offset_min` minutes east of UTC.
fn civil(ms: i64, offset_min: i32) -> Civil {
    let local = ms + i64::from(offset_min) * MINUTE;
    let (days, in_day) = (local.div_euclid(DAY), local.rem_euclid(DAY));
    let (y, m, d) = civil_from_days(days);
    let secs = (in_day / 1000) as u32;
    (y, m, d, secs / 3600, secs / 60 % 60, secs % 60)
}

/// Howard Hinnant's `civil_from_days`: the proleptic Gregorian date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (the inverse of `civil_from_days`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `UTC`, `UTC+2`, `UTC−5`, `UTC+5:30` (a true minus sign).
pub fn offset_label(offset_min: i32) -> String {
    let sign = if offset_min < 0 { '\u{2212}' } else { '+' };
    let abs = offset_min.unsigned_abs();
    match (abs / 60, abs % 60) {
        (0, 0) => "UTC".to_owned(),
        (h, 0) => format!("UTC{sign}{h}"),
        (h, m) => format!("UTC{sign}{h}:{m:02}"),
    }
}

/// How a time reads where the agent is (`offset_min` minutes east of UTC, the browser's
/// offset): relative while it is the agent's today ("just now", "3 min ago", "2 h ago";
/// a time a little ahead of the clock is "just now"), otherwise `2026-11-24 23:30`.
pub fn shown(at_ms: i64, now_ms: i64, offset_min: i32) -> String {
    let local_day = |ms: i64| (ms + i64::from(offset_min) * MINUTE).div_euclid(DAY);
    let ago = now_ms - at_ms;
    if local_day(at_ms) == local_day(now_ms) {
        return if ago < MINUTE {
            "just now".to_owned()
        } else if ago < HOUR {
            format!("{} min ago", ago / MINUTE)
        } else {
            format!("{} h ago", ago / HOUR)
        };
    }
    let (y, mo, d, h, mi, _) = civil(at_ms, offset_min);
    format!("{y}-{mo:02}-{d:02} {h:02}:{mi:02}")
}

/// The exact time where the agent is, with its offset: `2026-11-24 23:30:05 (UTC+2)`.
pub fn exact(at_ms: i64, offset_min: i32) -> String {
    let (y, mo, d, h, mi, s) = civil(at_ms, offset_min);
    format!(
        "{y}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} ({})",
        offset_label(offset_min)
    )
}

/// The time of day at `now_ms` in a zone `offset_min` minutes east of UTC: `14:05`.
pub fn clock(now_ms: i64, offset_min: i32) -> String {
    let (_, _, _, h, m, _) = civil(now_ms, offset_min);
    format!("{h:02}:{m:02}")
}

/// How long someone has waited since `since_ms`: `under a minute`, `12 min`, `3 h 5 min`,
/// `2 d 4 h`.
pub fn waited(since_ms: i64, now_ms: i64) -> String {
    let w = (now_ms - since_ms).max(0);
    let (big, small, units) = if w < MINUTE {
        return "under a minute".to_owned();
    } else if w < HOUR {
        return format!("{} min", w / MINUTE);
    } else if w < DAY {
        (w / HOUR, w % HOUR / MINUTE, ("h", "min"))
    } else {
        (w / DAY, w % DAY / HOUR, ("d", "h"))
    };
    match small {
        0 => format!("{big} {}", units.0),
        _ => format!("{big} {} {small} {}", units.0, units.1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        parse_rfc3339(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn rfc3339_reads_as_the_server_writes_it() {
        assert_eq!(at("1970-01-01T00:00:00Z"), 0);
        assert_eq!(at("1970-01-01T00:00:01.5Z"), 1_500);
        assert_eq!(at("2023-11-14T22:13:20.000Z"), 1_700_000_000_000);
        assert_eq!(
            at("2023-11-15T00:13:20+02:00"),
            1_700_000_000_000,
            "an offset counts"
        );
        assert_eq!(at("2023-11-14T17:13:20.000-05:00"), 1_700_000_000_000);
        assert_eq!(at("1969-12-31T23:59:59Z"), -1_000);
        assert_eq!(at("2024-02-29T12:00:00Z") - at("2024-02-28T12:00:00Z"), DAY);
        for bad in [
            "",
            "yesterday",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-13-14T22:13:20Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T2x:13:20Z",
            "2023-11-14T22:13:20+0200",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_round_trip_across_eras_and_leap_years() {
        for days in [-800_000, -1, 0, 1, 59, 60, 11_016, 19_782, 20_000, 800_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn today_reads_relative_and_the_rest_as_a_date() {
        let now = at("2026-11-25T15:00:00Z");
        assert_eq!(shown(now, now, 0), "just now");
        assert_eq!(shown(now - 59_999, now, 0), "just now");
        assert_eq!(
            shown(now + 5_000, now, 0),
            "just now",
            "a clock a little ahead"
        );
        assert_eq!(shown(now - 3 * MINUTE, now, 0), "3 min ago");
        assert_eq!(shown(now - 59 * MINUTE, now, 0), "59 min ago");
        assert_eq!(shown(now - 2 * HOUR - 10 * MINUTE, now, 0), "2 h ago");
        assert_eq!(shown(at("2026-11-25T00:00:00Z"), now, 0), "15 h ago");
        assert_eq!(
            shown(at("2026-11-24T23:59:00Z"), now, 0),
            "2026-11-24 23:59"
        );
        assert_eq!(
            shown(at("2025-01-02T03:04:00Z"), now, 60),
            "2025-01-02 04:04"
        );
    }

    #[test]
    fn today_is_the_agents_today_across_midnight_in_their_zone() {
        // 23:30 and 00:10 in UTC+2 (Helsinki in winter): 40 minutes apart, but yesterday.
        let line = at("2026-11-24T21:30:00Z");
        let now = at("2026-11-24T22:10:00Z");
        assert_eq!(shown(line, now, 120), "2026-11-24 23:30");
        // The same two instants are one UTC day: relative there.
        assert_eq!(shown(line, now, 0), "40 min ago");
        // In UTC−5 the UTC date has turned but the agent's day has not: still today.
        let line = at("2026-11-24T23:30:00Z");
        let now = at("2026-11-25T01:00:00Z");
        assert_eq!(shown(line, now, -300), "1 h ago");
        assert_eq!(shown(line, now, 0), "2026-11-24 23:30");
        // Just before and just after the agent's midnight (UTC−5: 05:00Z).
        let before = at("2026-11-25T04:59:00Z");
        assert_eq!(
            shown(before, at("2026-11-25T05:01:00Z"), -300),
            "2026-11-24 23:59"
        );
        assert_eq!(shown(before, at("2026-11-25T04:59:30Z"), -300), "just now");
        // India's half hour: 23:30 and 00:15.
        let (line, now) = (at("2026-11-24T18:00:00Z"), at("2026-11-24T18:45:00Z"));
        assert_eq!(shown(line, now, 330), "2026-11-24 23:30");
        assert_eq!(shown(line, now, 300), "45 min ago");
    }

    #[test]
    fn exact_times_offsets_clocks_and_waits() {
        let t = at("2026-11-24T21:30:05Z");
        assert_eq!(exact(t, 120), "2026-11-24 23:30:05 (UTC+2)");
        assert_eq!(exact(t, 0), "2026-11-24 21:30:05 (UTC)");
        assert_eq!(exact(t, -300), "2026-11-24 16:30:05 (UTC\u{2212}5)");
        assert_eq!(offset_label(330), "UTC+5:30");
        assert_eq!(offset_label(-570), "UTC\u{2212}9:30");
        assert_eq!(clock(t, -300), "16:30");
        assert_eq!(clock(t, 330), "03:00");
        assert_eq!(waited(t, t + 30_000), "under a minute");
        assert_eq!(waited(t, t - 30_000), "under a minute", "never negative");
        assert_eq!(waited(t, t + 12 * MINUTE), "12 min");
        assert_eq!(waited(t, t + 3 * HOUR), "3 h");
        assert_eq!(waited(t, t + 3 * HOUR + 5 * MINUTE), "3 h 5 min");
        assert_eq!(waited(t, t + 2 * DAY + 4 * HOUR), "2 d 4 h");
        assert_eq!(waited(t, t + 2 * DAY), "2 d");
    }
}
