//! Connector sync schedules: C1's `ConnectorSyncCronSchedule` (`cronSpec` + IANA `timezone`).
//!
//! Accepts standard five-field cron (`minute hour day-of-month month day-of-week`), an optional
//! leading seconds field (six fields), lists, ranges, steps, month and weekday names, and the
//! `@hourly`/`@daily`/`@weekly`/`@monthly`/`@yearly` shorthands. As in classic cron, when both
//! day fields are restricted a day matches if either matches.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// A parsed schedule.
#[derive(Clone, Debug)]
pub struct Schedule {
    seconds: u64,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_restricted: bool,
    weekdays_restricted: bool,
    tz: TimeZone,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    names_from: u32,
}

fn value(f: &Field, s: &str) -> Result<u32, String> {
    let upper = s.to_ascii_uppercase();
    if let Some(i) = f.names.iter().position(|n| *n == upper) {
        return Ok(i as u32 + f.names_from);
    }
    let v: u32 = s
        .parse()
        .map_err(|_| format!("{} field: `{s}` is not a number", f.name))?;
    // Day-of-week 7 is Sunday as well as 0.
    let v = if f.name == "day-of-week" && v == 7 {
        0
    } else {
        v
    };
    if v < f.min || v > f.max {
        return Err(format!(
            "{} field: {v} is outside {}..{}",
            f.name,
            f.min,
            if f.name == "day-of-week" { 7 } else { f.max }
        ));
    }
    Ok(v)
}

/// Parses one field into a bit set; the bool says whether it was restricted (not `*`).
fn field(f: &Field, text: &str) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("{} field: step `{s}` must be a positive number", f.name)
                })?;
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (f.min, f.max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(f, a)?, value(f, b)?)
        } else {
            let v = value(f, range)?;
            // `5/15` means from 5 to the end in steps of 15.
            (v, if part.contains('/') { f.max } else { v })
        };
        if lo > hi {
            return Err(format!("{} field: range `{range}` runs backwards", f.name));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok((bits, text != "*" && text != "?"))
}

impl Schedule {
    /// Parses `spec` in time zone `timezone` (IANA name; empty means UTC).
    pub fn parse(spec: &str, timezone: &str) -> Result<Schedule, String> {
        let tz = if timezone.trim().is_empty() {
            TimeZone::UTC
        } else {
            TimeZone::get(timezone.trim()).map_err(|_| {
                format!("timezone `{timezone}` is not a known IANA time zone (for example `UTC` or `America/New_York`)")
            })?
        };
        let expanded = match spec.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        let (sec, rest) = match parts.len() {
            5 => ("0", &parts[..]),
            6 => (parts[0], &parts[1..]),
            0 => return Err("cronSpec is empty; give five fields such as `0 * * * *` (hourly)".into()),
            n => {
                return Err(format!(
                    "cronSpec has {n} fields; use five (minute hour day-of-month month day-of-week) or six (with seconds first)"
                ))
            }
        };
        let f = |name, min, max| Field {
            name,
            min,
            max,
            names: &[],
            names_from: 0,
        };
        let (seconds, _) = field(&f("seconds", 0, 59), sec)?;
        let (minutes, _) = field(&f("minute", 0, 59), rest[0])?;
        let (hours, _) = field(&f("hour", 0, 23), rest[1])?;
        let (days, days_restricted) = field(&f("day-of-month", 1, 31), rest[2])?;
        let (months, _) = field(
            &Field {
                name: "month",
                min: 1,
                max: 12,
                names: &MONTHS,
                names_from: 1,
            },
            rest[3],
        )?;
        let (weekdays, weekdays_restricted) = field(
            &Field {
                name: "day-of-week",
                min: 0,
                max: 7,
                names: &WEEKDAYS,
                names_from: 0,
            },
            rest[4],
        )?;
        // Day-of-week 7 was folded into 0 by `value`, except through `*` ranges.
        let weekdays = if weekdays & (1 << 7) != 0 {
            (weekdays | 1) & !(1 << 7)
        } else {
            weekdays
        };
        let s = Schedule {
            seconds,
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_restricted,
            weekdays_restricted,
            tz,
        };
        if s.next_after(Timestamp::now()).is_none() {
            return Err(format!("cronSpec `{spec}` never fires (no such date)"));
        }
        Ok(s)
    }

    fn day_matches(&self, d: Date) -> bool {
        let dom = self.days & (1 << d.day()) != 0;
        let dow = self.weekdays & (1 << d.weekday().to_sunday_zero_offset()) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The first firing strictly after `after`, or None if there is none within five years.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let start = after.checked_add(1.second()).ok()?;
        let mut t: DateTime = start.to_zoned(self.tz.clone()).datetime();
        t = t.with().subsec_nanosecond(0).build().ok()?;
        let limit = t.checked_add(5.years()).ok()?;
        while t < limit {
            if self.months & (1 << t.month()) == 0 {
                let first = Date::new(t.year(), t.month(), 1).ok()?;
                t = first
                    .checked_add(1.month())
                    .ok()?
                    .to_datetime(Time::midnight());
                continue;
            }
            if !self.day_matches(t.date()) {
                t = t.date().tomorrow().ok()?.to_datetime(Time::midnight());
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = t
                    .with()
                    .minute(0)
                    .second(0)
                    .build()
                    .ok()?
                    .checked_add(1.hour())
                    .ok()?;
                continue;
            }
            if self.minutes & (1 << t.minute()) == 0 {
                t = t
                    .with()
                    .second(0)
                    .build()
                    .ok()?
                    .checked_add(1.minute())
                    .ok()?;
                continue;
            }
            if self.seconds & (1 << t.second()) == 0 {
                t = t.checked_add(1.second()).ok()?;
                continue;
            }
            // A local time skipped by a DST change resolves forward; one repeated resolves to
            // its first occurrence, which may be before `after`: then keep looking.
            let at = self.tz.to_ambiguous_zoned(t).compatible().ok()?.timestamp();
            if at > after {
                return Some(at);
            }
            t = t.checked_add(1.second()).ok()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::Schedule;
    use jiff::Timestamp;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn hourly_and_steps() {
        let s = Schedule::parse("0 * * * *", "").unwrap();
        assert_eq!(
            s.next_after(ts("2026-11-23T10:15:00Z")),
            Some(ts("2026-11-23T11:00:00Z"))
        );
        let s = Schedule::parse("*/15 9-17 * * MON-FRI", "UTC").unwrap();
        // Saturday 2026-11-28 → Monday 09:00.
        assert_eq!(
            s.next_after(ts("2026-11-27T17:50:00Z")),
            Some(ts("2026-11-30T09:00:00Z"))
        );
        let s = Schedule::parse("*/5 * * * * *", "").unwrap();
        assert_eq!(
            s.next_after(ts("2026-11-23T10:15:03Z")),
            Some(ts("2026-11-23T10:15:05Z"))
        );
    }

    #[test]
    fn time_zones_and_shorthands() {
        let s = Schedule::parse("@daily", "America/New_York").unwrap();
        assert_eq!(
            s.next_after(ts("2026-11-23T10:00:00Z")),
            Some(ts("2026-11-24T05:00:00Z"))
        );
        // Day-of-month OR day-of-week when both are set; 7 is Sunday.
        let s = Schedule::parse("0 0 1 * 7", "").unwrap();
        assert_eq!(
            s.next_after(ts("2026-11-23T00:00:00Z")),
            Some(ts("2026-11-29T00:00:00Z"))
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, tz, want) in [
            ("", "", "empty"),
            ("* * *", "", "3 fields"),
            ("61 * * * *", "", "minute field: 61"),
            ("*/0 * * * *", "", "step `0`"),
            ("0 0 30 2 *", "", "never fires"),
            ("0 0 * * *", "Mars/Olympus", "not a known IANA"),
            ("5-1 * * * *", "", "backwards"),
        ] {
            let e = Schedule::parse(spec, tz).unwrap_err();
            assert!(e.contains(want), "{spec}: {e}");
        }
    }
}
