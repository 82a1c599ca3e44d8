//! Trino's date and time functions: `date_add`, `date_diff`, the field extractors (`year`,
//! `day_of_week`, `hour`…), `from_iso8601_timestamp`, `from_iso8601_date`, `to_iso8601` and
//! MySQL-style `date_format`. CloudTrail times are UTC, so calendar arithmetic is done in UTC.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int64Builder, StringBuilder, TimestampMicrosecondArray,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc};
use datafusion::common::{exec_err, plan_err, DataFusionError, Result};
use datafusion::logical_expr::ScalarUDF;

use super::{arity, int64s, is_integer, is_string, strings, LakeFn};

pub(super) fn functions() -> Vec<ScalarUDF> {
    let mut v = vec![
        LakeFn::udf("date_add", &[], coerce_date_add, ret_date_add, date_add),
        LakeFn::udf("date_diff", &[], coerce_date_diff, ret_int64, date_diff),
        LakeFn::udf("from_iso8601_timestamp", &[], coerce_string, ret_ts, from_iso8601_timestamp),
        LakeFn::udf("from_iso8601_date", &[], coerce_string, ret_date, from_iso8601_date),
        LakeFn::udf("to_iso8601", &[], coerce_ts, ret_utf8, to_iso8601),
        LakeFn::udf("date_format", &[], coerce_ts_string, ret_utf8, date_format),
    ];
    for (name, aliases, f) in FIELDS {
        v.push(LakeFn::udf(name, aliases, coerce_ts, ret_int64, *f));
    }
    v
}

type FieldKernel = fn(&[ArrayRef], &DataType) -> Result<ArrayRef>;

/// Field extractors: name, aliases, kernel.
const FIELDS: &[(&str, &[&str], FieldKernel)] = &[
    ("year", &[], |a, _| extract(a, |t| t.year() as i64)),
    ("quarter", &[], |a, _| extract(a, |t| (t.month0() / 3 + 1) as i64)),
    ("month", &[], |a, _| extract(a, |t| t.month() as i64)),
    ("week", &["week_of_year"], |a, _| extract(a, |t| t.iso_week().week() as i64)),
    ("year_of_week", &["yow"], |a, _| extract(a, |t| t.iso_week().year() as i64)),
    ("day", &["day_of_month"], |a, _| extract(a, |t| t.day() as i64)),
    ("day_of_week", &["dow"], |a, _| extract(a, |t| t.weekday().number_from_monday() as i64)),
    ("day_of_year", &["doy"], |a, _| extract(a, |t| t.ordinal() as i64)),
    ("hour", &[], |a, _| extract(a, |t| t.hour() as i64)),
    ("minute", &[], |a, _| extract(a, |t| t.minute() as i64)),
    ("second", &[], |a, _| extract(a, |t| t.second() as i64)),
    ("millisecond", &[], |a, _| extract(a, |t| (t.nanosecond() / 1_000_000 % 1000) as i64)),
];

fn ts_utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn is_temporal(t: &DataType) -> bool {
    matches!(t, DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 | DataType::Null) || is_string(t)
}

fn coerce_ts(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 1, 1)?;
    if !is_temporal(&t[0]) {
        return plan_err!("{name}() takes a timestamp or date, got {}", t[0]);
    }
    Ok(vec![ts_utc()])
}

fn coerce_ts_string(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 2)?;
    if !is_temporal(&t[0]) || !is_string(&t[1]) {
        return plan_err!("{name}(timestamp, format) got ({}, {})", t[0], t[1]);
    }
    Ok(vec![ts_utc(), DataType::Utf8])
}

fn coerce_string(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 1, 1)?;
    if !is_string(&t[0]) {
        return plan_err!("{name}() takes a string, got {}", t[0]);
    }
    Ok(vec![DataType::Utf8])
}

fn coerce_date_add(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 3, 3)?;
    if !is_string(&t[0]) || !is_integer(&t[1]) || !is_temporal(&t[2]) {
        return plan_err!("{name}(unit, value, timestamp) got ({}, {}, {})", t[0], t[1], t[2]);
    }
    let target = if t[2] == DataType::Date32 { DataType::Date32 } else { ts_utc() };
    Ok(vec![DataType::Utf8, DataType::Int64, target])
}

fn coerce_date_diff(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 3, 3)?;
    if !is_string(&t[0]) || !is_temporal(&t[1]) || !is_temporal(&t[2]) {
        return plan_err!("{name}(unit, timestamp1, timestamp2) got ({}, {}, {})", t[0], t[1], t[2]);
    }
    Ok(vec![DataType::Utf8, ts_utc(), ts_utc()])
}

fn ret_int64(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Int64)
}
fn ret_utf8(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Utf8)
}
fn ret_ts(_: &[DataType]) -> Result<DataType> {
    Ok(ts_utc())
}
fn ret_date(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Date32)
}
fn ret_date_add(t: &[DataType]) -> Result<DataType> {
    Ok(if t.get(2) == Some(&DataType::Date32) { DataType::Date32 } else { ts_utc() })
}

fn micros(a: &ArrayRef) -> Result<&TimestampMicrosecondArray> {
    match a.as_primitive_opt::<TimestampMicrosecondType>() {
        Some(t) => Ok(t),
        None => exec_err!("expected a timestamp, got {}", a.data_type()),
    }
}

fn to_datetime(us: i64) -> Result<NaiveDateTime> {
    DateTime::<Utc>::from_timestamp_micros(us)
        .map(|d| d.naive_utc())
        .ok_or_else(|| DataFusionError::Execution(format!("timestamp out of range: {us} µs")))
}

fn extract(args: &[ArrayRef], f: impl Fn(&NaiveDateTime) -> i64) -> Result<ArrayRef> {
    let ts = micros(&args[0])?;
    let mut out = Int64Builder::with_capacity(ts.len());
    for v in ts.iter() {
        match v {
            Some(us) => out.append_value(f(&to_datetime(us)?)),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// Units accepted by `date_add` and `date_diff` (Trino's, case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Fixed(i64), // microseconds
    Months(i64),
}

fn unit(s: &str) -> Result<Unit> {
    let u = s.trim().to_ascii_lowercase();
    let u = u.strip_suffix('s').filter(|_| u != "ms").unwrap_or(&u).to_string();
    Ok(match u.as_str() {
        "millisecond" | "ms" => Unit::Fixed(1_000),
        "second" => Unit::Fixed(1_000_000),
        "minute" => Unit::Fixed(60_000_000),
        "hour" => Unit::Fixed(3_600_000_000),
        "day" => Unit::Fixed(86_400_000_000),
        "week" => Unit::Fixed(7 * 86_400_000_000),
        "month" => Unit::Months(1),
        "quarter" => Unit::Months(3),
        "year" => Unit::Months(12),
        _ => {
            return exec_err!(
                "'{s}' is not a valid unit: use millisecond, second, minute, hour, day, week, month, quarter or year"
            )
        }
    })
}

fn add(t: NaiveDateTime, unit: Unit, n: i64) -> Result<NaiveDateTime> {
    let overflow = || DataFusionError::Execution(format!("date_add overflows: {n} × {unit:?}"));
    match unit {
        Unit::Fixed(us) => {
            let delta = n.checked_mul(us).map(TimeDelta::microseconds).ok_or_else(overflow)?;
            t.checked_add_signed(delta).ok_or_else(overflow)
        }
        Unit::Months(m) => {
            let total = n.checked_mul(m).ok_or_else(overflow)?;
            let months = Months::new(u32::try_from(total.unsigned_abs()).map_err(|_| overflow())?);
            if total >= 0 { t.checked_add_months(months) } else { t.checked_sub_months(months) }.ok_or_else(overflow)
        }
    }
}

fn date_add(args: &[ArrayRef], ret: &DataType) -> Result<ArrayRef> {
    let units = strings(&args[0])?;
    let n = int64s(&args[1])?;
    let rows = units.len();
    let mut cached: Option<(String, Unit)> = None;
    let mut unit_at = |i: usize| -> Result<Unit> {
        let s = units.value(i);
        if cached.as_ref().map(|(k, _)| k.as_str()) != Some(s) {
            cached = Some((s.to_string(), unit(s)?));
        }
        Ok(cached.as_ref().map(|(_, u)| *u).unwrap_or(Unit::Fixed(0)))
    };
    if *ret == DataType::Date32 {
        let d = args[2].as_primitive::<arrow::datatypes::Date32Type>();
        let mut out = Vec::with_capacity(rows);
        for i in 0..rows {
            if units.is_null(i) || n.is_null(i) || d.is_null(i) {
                out.push(None);
                continue;
            }
            let t = to_datetime(d.value(i) as i64 * 86_400_000_000)?;
            let r = add(t, unit_at(i)?, n.value(i))?;
            out.push(Some((r.and_utc().timestamp().div_euclid(86_400)) as i32));
        }
        return Ok(Arc::new(Date32Array::from(out)));
    }
    let ts = micros(&args[2])?;
    let mut out = TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC");
    for i in 0..rows {
        if units.is_null(i) || n.is_null(i) || ts.is_null(i) {
            out.append_null();
            continue;
        }
        let r = add(to_datetime(ts.value(i))?, unit_at(i)?, n.value(i))?;
        out.append_value(r.and_utc().timestamp_micros());
    }
    Ok(Arc::new(out.finish()))
}

/// Whole units from `a` to `b` (negative when `b` is earlier), truncated toward zero.
fn diff(a: NaiveDateTime, b: NaiveDateTime, unit: Unit) -> i64 {
    match unit {
        Unit::Fixed(us) => (b - a).num_microseconds().unwrap_or(i64::MAX) / us,
        Unit::Months(m) => {
            let months = |t: &NaiveDateTime| t.year() as i64 * 12 + t.month0() as i64;
            let mut d = months(&b) - months(&a);
            // A month only counts once its day and time of day are reached.
            let rest = |t: &NaiveDateTime| (t.day(), t.time());
            if d > 0 && rest(&b) < rest(&a) {
                d -= 1;
            } else if d < 0 && rest(&b) > rest(&a) {
                d += 1;
            }
            d / m
        }
    }
}

fn date_diff(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let units = strings(&args[0])?;
    let (a, b) = (micros(&args[1])?, micros(&args[2])?);
    let mut out = Int64Builder::with_capacity(units.len());
    for i in 0..units.len() {
        if units.is_null(i) || a.is_null(i) || b.is_null(i) {
            out.append_null();
            continue;
        }
        out.append_value(diff(to_datetime(a.value(i))?, to_datetime(b.value(i))?, unit(units.value(i))?));
    }
    Ok(Arc::new(out.finish()))
}

/// ISO 8601 text to a UTC instant: a date, a date-time with or without seconds, fractions and
/// zone (no zone means UTC).
fn parse_iso8601(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M%:z", "%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H%:z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.naive_utc());
        }
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0))
}

fn from_iso8601_timestamp(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    let mut out = TimestampMicrosecondBuilder::with_capacity(s.len()).with_timezone("UTC");
    for v in s.iter() {
        match v {
            None => out.append_null(),
            Some(v) => match parse_iso8601(v) {
                Some(t) => out.append_value(t.and_utc().timestamp_micros()),
                None => return exec_err!("from_iso8601_timestamp: '{v}' is not an ISO 8601 timestamp"),
            },
        }
    }
    Ok(Arc::new(out.finish()))
}

fn from_iso8601_date(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    let mut out = Vec::with_capacity(s.len());
    for v in s.iter() {
        out.push(match v {
            None => None,
            Some(v) => match NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d") {
                Ok(d) => Some((d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp()).unwrap_or(0) / 86_400) as i32),
                Err(_) => return exec_err!("from_iso8601_date: '{v}' is not an ISO 8601 date"),
            },
        });
    }
    Ok(Arc::new(Date32Array::from(out)))
}

fn to_iso8601(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let ts = micros(&args[0])?;
    let mut out = StringBuilder::new();
    for v in ts.iter() {
        match v {
            Some(us) => out.append_value(to_datetime(us)?.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// Translates a MySQL format string (what Trino's `date_format` takes) into chrono's.
fn mysql_to_chrono(f: &str) -> Result<String> {
    let mut out = String::with_capacity(f.len() + 8);
    let mut chars = f.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let spec = match chars.next() {
            Some('a') => "%a",
            Some('b') => "%b",
            Some('c') => "%-m",
            Some('d') => "%d",
            Some('e') => "%-d",
            Some('f') => "%6f",
            Some('H') => "%H",
            Some('h') | Some('I') => "%I",
            Some('i') => "%M",
            Some('j') => "%j",
            Some('k') => "%-H",
            Some('l') => "%-I",
            Some('M') => "%B",
            Some('m') => "%m",
            Some('p') => "%p",
            Some('r') => "%I:%M:%S %p",
            Some('S') | Some('s') => "%S",
            Some('T') => "%H:%M:%S",
            Some('v') => "%V",
            Some('W') => "%A",
            Some('w') => "%w",
            Some('x') => "%G",
            Some('Y') => "%Y",
            Some('y') => "%y",
            Some('%') => "%%",
            Some(other) => return exec_err!("date_format: unsupported specifier %{other}"),
            None => return exec_err!("date_format: format ends with a lone %"),
        };
        out.push_str(spec);
    }
    Ok(out)
}

fn date_format(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let ts = micros(&args[0])?;
    let fmts = strings(&args[1])?;
    let mut cached: Option<(String, String)> = None;
    let mut out = StringBuilder::new();
    for i in 0..ts.len() {
        if ts.is_null(i) || fmts.is_null(i) {
            out.append_null();
            continue;
        }
        let f = fmts.value(i);
        if cached.as_ref().map(|(k, _)| k.as_str()) != Some(f) {
            cached = Some((f.to_string(), mysql_to_chrono(f)?));
        }
        let chrono_fmt = cached.as_ref().map(|(_, c)| c.as_str()).unwrap_or_default();
        out.append_value(to_datetime(ts.value(i))?.format(chrono_fmt).to_string());
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        parse_iso8601(s).expect("iso")
    }

    #[test]
    fn calendar_arithmetic() {
        assert_eq!(add(t("2024-01-31T10:00:00Z"), Unit::Months(1), 1).expect("add"), t("2024-02-29T10:00:00Z"));
        assert_eq!(
            add(t("2024-03-01T00:00:00Z"), unit("week").expect("u"), -1).expect("add"),
            t("2024-02-23T00:00:00Z")
        );
        assert_eq!(diff(t("2024-01-31"), t("2024-02-29"), Unit::Months(1)), 0);
        assert_eq!(diff(t("2024-01-31"), t("2024-03-31"), Unit::Months(1)), 2);
        assert_eq!(diff(t("2024-03-31"), t("2024-01-31"), Unit::Months(1)), -2);
        assert_eq!(diff(t("2024-01-01T00:00:00Z"), t("2024-01-01T23:59:59Z"), unit("DAY").expect("u")), 0);
        assert_eq!(diff(t("2024-01-02T00:00:00Z"), t("2024-01-01T00:00:00Z"), unit("hour").expect("u")), -24);
        assert!(unit("fortnight").is_err());
    }

    #[test]
    fn iso8601_forms() {
        assert_eq!(t("2023-01-22T16:53:53Z"), t("2023-01-22T16:53:53.000"));
        assert_eq!(t("2023-01-22T18:53:53+02:00"), t("2023-01-22T16:53:53Z"));
        assert_eq!(t("2023-01-22"), t("2023-01-22T00:00"));
        assert!(parse_iso8601("yesterday").is_none());
    }

    #[test]
    fn mysql_formats() {
        let f = mysql_to_chrono("%Y-%m-%d %H:%i:%s %W").expect("fmt");
        assert_eq!(t("2023-01-22T16:53:53Z").format(&f).to_string(), "2023-01-22 16:53:53 Sunday");
        assert!(mysql_to_chrono("%Q").is_err());
    }
}
