//! `time.parse`, `time.format`, `time.start_of`, `time.end_of`: Go reference layouts
//! (`2006-01-02T15:04:05Z07:00`, as C1's CEL takes them) translated to chrono.

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, Months, NaiveDate, NaiveDateTime, NaiveTime,
    TimeZone, Timelike, Utc,
};

/// `TimeFormat.*` constants: the Go layouts they stand for.
pub(crate) const TIME_FORMATS: &[(&str, &str)] = &[
    ("RFC3339", "2006-01-02T15:04:05Z07:00"),
    ("DATE", "2006-01-02"),
    ("DATETIME", "2006-01-02 15:04:05"),
    ("TIME", "15:04:05"),
];

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Lit(String),
    /// A chrono specifier that formats and parses the same way.
    Spec(&'static str),
    /// `Z07:00` (colon) / `Z0700`: `Z` for UTC, else the offset.
    Zulu {
        colon: bool,
    },
    /// `.000` (exact digits) or `.999` (trailing zeros trimmed).
    Frac {
        digits: usize,
        trim: bool,
        sep: char,
    },
}

fn tokenize(layout: &str) -> Vec<Tok> {
    let b = layout.as_bytes();
    let mut out: Vec<Tok> = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    let starts = |i: usize, p: &str| layout[i..].starts_with(p);
    while i < b.len() {
        // longest Go chunks first
        let table: &[(&str, Tok)] = &[
            ("January", Tok::Spec("%B")),
            ("Jan", Tok::Spec("%b")),
            ("Monday", Tok::Spec("%A")),
            ("Mon", Tok::Spec("%a")),
            ("MST", Tok::Spec("%Z")),
            ("2006", Tok::Spec("%Y")),
            ("002", Tok::Spec("%j")),
            ("01", Tok::Spec("%m")),
            ("02", Tok::Spec("%d")),
            ("03", Tok::Spec("%I")),
            ("04", Tok::Spec("%M")),
            ("05", Tok::Spec("%S")),
            ("06", Tok::Spec("%y")),
            ("_2", Tok::Spec("%e")),
            ("15", Tok::Spec("%H")),
            ("1", Tok::Spec("%-m")),
            ("2", Tok::Spec("%-d")),
            ("3", Tok::Spec("%-I")),
            ("4", Tok::Spec("%-M")),
            ("5", Tok::Spec("%-S")),
            ("PM", Tok::Spec("%p")),
            ("pm", Tok::Spec("%P")),
            ("Z07:00", Tok::Zulu { colon: true }),
            ("Z0700", Tok::Zulu { colon: false }),
            ("-07:00", Tok::Spec("%:z")),
            ("-0700", Tok::Spec("%z")),
        ];
        if let Some((p, tok)) = table.iter().find(|(p, _)| starts(i, p)) {
            if !lit.is_empty() {
                out.push(Tok::Lit(std::mem::take(&mut lit)));
            }
            out.push(tok.clone());
            i += p.len();
            continue;
        }
        // fractional seconds: `.000`, `,000`, `.999` directly after seconds
        if (b[i] == b'.' || b[i] == b',')
            && i + 1 < b.len()
            && (b[i + 1] == b'0' || b[i + 1] == b'9')
            && matches!(out.last(), Some(Tok::Spec("%S" | "%-S")))
        {
            let d = b[i + 1];
            let mut j = i + 1;
            while j < b.len() && b[j] == d {
                j += 1;
            }
            if j >= b.len() || !b[j].is_ascii_digit() {
                if !lit.is_empty() {
                    out.push(Tok::Lit(std::mem::take(&mut lit)));
                }
                out.push(Tok::Frac {
                    digits: (j - i - 1).min(9),
                    trim: d == b'9',
                    sep: b[i] as char,
                });
                i = j;
                continue;
            }
        }
        let c = layout[i..].chars().next().expect("in bounds");
        lit.push(c);
        i += c.len_utf8();
    }
    if !lit.is_empty() {
        out.push(Tok::Lit(lit));
    }
    out
}

/// A layout as written, or a `TimeFormat` name.
fn resolve_layout(layout: &str) -> &str {
    TIME_FORMATS
        .iter()
        .find(|(name, _)| *name == layout)
        .map(|(_, l)| *l)
        .unwrap_or(layout)
}

enum Zone {
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

fn zone(tz: Option<&str>, default: FixedOffset) -> Result<Zone, String> {
    match tz {
        None => Ok(Zone::Fixed(default)),
        Some("UTC") | Some("Z") => Ok(Zone::Fixed(FixedOffset::east_opt(0).expect("0"))),
        Some(name) => {
            if let Ok(tz) = name.parse::<chrono_tz::Tz>() {
                return Ok(Zone::Named(tz));
            }
            if let Ok(dt) =
                DateTime::parse_from_str(&format!("2000-01-01 00:00 {name}"), "%F %R %:z")
            {
                return Ok(Zone::Fixed(*dt.offset()));
            }
            Err(format!(
                "unknown time zone `{name}` (use an IANA name like \"America/New_York\", or \"UTC\")"
            ))
        }
    }
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("0")
}

/// Formats `ts` with a Go layout, in `tz` (default: UTC).
pub(crate) fn format(
    ts: &DateTime<FixedOffset>,
    layout: &str,
    tz: Option<&str>,
) -> Result<String, String> {
    match zone(tz, utc())? {
        Zone::Fixed(z) => format_in(&ts.with_timezone(&z), layout),
        Zone::Named(z) => format_in(&ts.with_timezone(&z), layout),
    }
}

fn format_in<Z: TimeZone>(dt: &DateTime<Z>, layout: &str) -> Result<String, String>
where
    Z::Offset: std::fmt::Display,
{
    use std::fmt::Write;
    let mut out = String::new();
    for tok in tokenize(resolve_layout(layout)) {
        match tok {
            Tok::Lit(s) => out.push_str(&s),
            Tok::Spec(spec) => {
                write!(out, "{}", dt.format(spec)).map_err(|_| "cannot format".to_owned())?
            }
            Tok::Zulu { colon } => {
                let secs = chrono::Offset::fix(dt.offset()).local_minus_utc();
                if secs == 0 {
                    out.push('Z');
                } else {
                    let spec = if colon { "%:z" } else { "%z" };
                    write!(out, "{}", dt.format(spec)).map_err(|_| "cannot format".to_owned())?;
                }
            }
            Tok::Frac { digits, trim, sep } => {
                let nanos = format!("{:09}", dt.nanosecond() % 1_000_000_000);
                let mut frac = nanos[..digits].to_owned();
                if trim {
                    frac = frac.trim_end_matches('0').to_owned();
                }
                if !frac.is_empty() {
                    out.push(sep);
                    out.push_str(&frac);
                }
            }
        }
    }
    Ok(out)
}

/// Parses `value` with a Go layout. Without an offset in the layout, the time is read in `tz`
/// (default UTC); a layout without a date gives 1970-01-01, without a time midnight.
pub(crate) fn parse(
    value: &str,
    layout: &str,
    tz: Option<&str>,
) -> Result<DateTime<FixedOffset>, String> {
    let layout = resolve_layout(layout);
    let toks = tokenize(layout);
    let mut fmt = String::new();
    let mut has_offset = false;
    let mut value = value.trim().to_owned();
    for tok in &toks {
        match tok {
            Tok::Lit(s) => fmt.push_str(&s.replace('%', "%%")),
            Tok::Spec(spec) => {
                if matches!(*spec, "%:z" | "%z") {
                    has_offset = true;
                }
                fmt.push_str(spec)
            }
            Tok::Zulu { colon } => {
                has_offset = true;
                fmt.push_str(if *colon { "%:z" } else { "%z" });
                if value.ends_with('Z') || value.ends_with('z') {
                    value.pop();
                    value.push_str(if *colon { "+00:00" } else { "+0000" });
                }
            }
            Tok::Frac { .. } => fmt.push_str("%.f"),
        }
    }
    let bad =
        |e: chrono::ParseError| format!("`{value}` does not match the layout `{layout}`: {e}");
    if has_offset {
        return DateTime::parse_from_str(&value, &fmt).map_err(bad);
    }
    let naive = match NaiveDateTime::parse_from_str(&value, &fmt) {
        Ok(n) => n,
        Err(e) if e.kind() == chrono::format::ParseErrorKind::NotEnough => {
            match NaiveDate::parse_from_str(&value, &fmt) {
                Ok(d) => d.and_time(NaiveTime::MIN),
                Err(e2) if e2.kind() == chrono::format::ParseErrorKind::NotEnough => {
                    let t = NaiveTime::parse_from_str(&value, &fmt).map_err(bad)?;
                    NaiveDate::from_ymd_opt(1970, 1, 1)
                        .expect("date")
                        .and_time(t)
                }
                Err(e2) => return Err(bad(e2)),
            }
        }
        Err(e) => return Err(bad(e)),
    };
    match zone(tz, utc())? {
        Zone::Fixed(z) => local(&z, naive),
        Zone::Named(z) => local(&z, naive),
    }
}

fn local<Z: TimeZone>(z: &Z, naive: NaiveDateTime) -> Result<DateTime<FixedOffset>, String> {
    z.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            z.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
        .map(|d| d.fixed_offset())
        .ok_or_else(|| format!("{naive} does not exist in that time zone"))
}

#[derive(Clone, Copy)]
enum Unit {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

fn unit(u: &str) -> Result<Unit, String> {
    Ok(match u.to_ascii_lowercase().as_str() {
        "day" => Unit::Day,
        "week" => Unit::Week,
        "month" => Unit::Month,
        "quarter" => Unit::Quarter,
        "year" => Unit::Year,
        _ => {
            return Err(format!(
                "unknown unit `{u}` (use \"day\", \"week\", \"month\", \"quarter\" or \"year\")"
            ))
        }
    })
}

fn period_start(d: NaiveDate, u: Unit) -> NaiveDate {
    match u {
        Unit::Day => d,
        Unit::Week => d - Duration::days(i64::from(d.weekday().num_days_from_monday())),
        Unit::Month => d.with_day(1).expect("day 1"),
        Unit::Quarter => {
            NaiveDate::from_ymd_opt(d.year(), (d.month() - 1) / 3 * 3 + 1, 1).expect("quarter")
        }
        Unit::Year => NaiveDate::from_ymd_opt(d.year(), 1, 1).expect("year"),
    }
}

fn next_period(d: NaiveDate, u: Unit) -> Option<NaiveDate> {
    match u {
        Unit::Day => d.succ_opt(),
        Unit::Week => d.checked_add_signed(Duration::days(7)),
        Unit::Month => d.checked_add_months(Months::new(1)),
        Unit::Quarter => d.checked_add_months(Months::new(3)),
        Unit::Year => d.checked_add_months(Months::new(12)),
    }
}

fn bounds<Z: TimeZone>(
    ts: &DateTime<FixedOffset>,
    u: Unit,
    z: &Z,
    end: bool,
) -> Result<DateTime<FixedOffset>, String> {
    let d = ts.with_timezone(z).date_naive();
    let start = period_start(d, u);
    if !end {
        return local(z, start.and_time(NaiveTime::MIN));
    }
    let next = next_period(start, u).ok_or("out of range")?;
    Ok(local(z, next.and_time(NaiveTime::MIN))? - Duration::nanoseconds(1))
}

/// The start of the day/week (Monday)/month/quarter/year containing `ts`, in `tz` (default: the
/// timestamp's own offset, UTC for `now()`).
pub(crate) fn start_of(
    ts: &DateTime<FixedOffset>,
    u: &str,
    tz: Option<&str>,
) -> Result<DateTime<FixedOffset>, String> {
    let u = unit(u)?;
    match zone(tz, *ts.offset())? {
        Zone::Fixed(z) => bounds(ts, u, &z, false),
        Zone::Named(z) => bounds(ts, u, &z, false),
    }
}

/// The last nanosecond of that period.
pub(crate) fn end_of(
    ts: &DateTime<FixedOffset>,
    u: &str,
    tz: Option<&str>,
) -> Result<DateTime<FixedOffset>, String> {
    let u = unit(u)?;
    match zone(tz, *ts.offset())? {
        Zone::Fixed(z) => bounds(ts, u, &z, true),
        Zone::Named(z) => bounds(ts, u, &z, true),
    }
}

/// `time::OffsetDateTime` → chrono.
pub(crate) fn from_time(t: time::OffsetDateTime) -> DateTime<FixedOffset> {
    let utc =
        DateTime::<Utc>::from_timestamp(t.unix_timestamp(), t.nanosecond()).unwrap_or_default();
    let off = FixedOffset::east_opt(t.offset().whole_seconds()).unwrap_or(utc_offset());
    utc.with_timezone(&off)
}

fn utc_offset() -> FixedOffset {
    utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn go_layouts_format() {
        let t = ts("2024-03-05T07:08:09.120+00:00");
        assert_eq!(format(&t, "2006-01-02", None).unwrap(), "2024-03-05");
        assert_eq!(format(&t, "RFC3339", None).unwrap(), "2024-03-05T07:08:09Z");
        assert_eq!(
            format(&t, "Mon Jan _2 15:04:05.000 2006", None).unwrap(),
            "Tue Mar  5 07:08:09.120 2024"
        );
        assert_eq!(format(&t, "15:04:05.999", None).unwrap(), "07:08:09.12");
        assert_eq!(
            format(&t, "2006-01-02T15:04:05Z07:00", Some("America/New_York")).unwrap(),
            "2024-03-05T02:08:09-05:00"
        );
        assert_eq!(format(&t, "3:04PM", None).unwrap(), "7:08AM");
    }

    #[test]
    fn go_layouts_parse() {
        assert_eq!(
            parse("2024-03-05", "2006-01-02", None).unwrap(),
            ts("2024-03-05T00:00:00Z")
        );
        assert_eq!(
            parse("2024-03-05T07:08:09Z", "RFC3339", None).unwrap(),
            ts("2024-03-05T07:08:09Z")
        );
        assert_eq!(
            parse(
                "2024-03-05T07:08:09+02:00",
                "2006-01-02T15:04:05Z07:00",
                None
            )
            .unwrap(),
            ts("2024-03-05T05:08:09Z")
        );
        assert_eq!(
            parse("2024-03-05 07:08:09", "DATETIME", Some("Europe/Paris")).unwrap(),
            ts("2024-03-05T06:08:09Z")
        );
        assert_eq!(
            parse("07:08:09", "TIME", None).unwrap(),
            ts("1970-01-01T07:08:09Z")
        );
        assert!(parse("05/03/2024", "2006-01-02", None).is_err());
        assert!(parse("2024-03-05", "2006-01-02", Some("Nowhere/City")).is_err());
    }

    #[test]
    fn periods() {
        let t = ts("2024-05-15T13:00:00Z"); // a Wednesday
        assert_eq!(
            start_of(&t, "day", None).unwrap(),
            ts("2024-05-15T00:00:00Z")
        );
        assert_eq!(
            start_of(&t, "week", None).unwrap(),
            ts("2024-05-13T00:00:00Z")
        );
        assert_eq!(
            start_of(&t, "month", None).unwrap(),
            ts("2024-05-01T00:00:00Z")
        );
        assert_eq!(
            start_of(&t, "quarter", None).unwrap(),
            ts("2024-04-01T00:00:00Z")
        );
        assert_eq!(
            start_of(&t, "year", None).unwrap(),
            ts("2024-01-01T00:00:00Z")
        );
        assert_eq!(
            end_of(&t, "month", None).unwrap(),
            ts("2024-05-31T23:59:59.999999999Z")
        );
        assert_eq!(
            end_of(&t, "quarter", None).unwrap(),
            ts("2024-06-30T23:59:59.999999999Z")
        );
        assert_eq!(
            start_of(&t, "day", Some("Asia/Tokyo")).unwrap(),
            ts("2024-05-15T00:00:00+09:00")
        );
        assert!(start_of(&t, "fortnight", None).is_err());
    }
}
