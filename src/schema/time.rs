//! `meta/v1.Time` as k8s-openapi reads it: with jiff's `Timestamp` parser, whose grammar is
//! Temporal's (ISO 8601 with RFC 9557 annotations). The module does not carry jiff for these
//! few fields of an ephemeral volume's claim template, so the grammar is written out here, and
//! the tests hold it to jiff's on generated strings.
//!
//! A timestamp is a date, `T`, `t` or a space, a time, an offset (`Z` or numeric, required), and
//! optional bracketed annotations. Date, time and offset each come in an extended form (with `-`
//! or `:`) and a basic one (digits only); the first separator chooses.

/// Unix seconds jiff's Timestamp can hold: `-009999-01-02T01:59:59Z` to `9999-12-30T22:00:00Z`,
/// so that any civil time at any offset of ±25:59:59 is representable.
const MIN_SECOND: i64 = -377_705_023_201;
const MAX_SECOND: i64 = 253_402_207_200;
/// ±25:59:59, the largest offset.
const MAX_OFFSET: i64 = 93_599;

/// `Ok` when `text` is a timestamp jiff reads, otherwise what is wrong with it.
pub fn check(text: &str) -> Result<(), &'static str> {
    let mut input = Input(text.as_bytes());
    let days = input.date()?;
    if !input.eat(|b| matches!(b, b'T' | b't' | b' ')) {
        return Err("a date, then T and a time");
    }
    let seconds = input.time()?;
    let offset = input.offset()?;
    input.annotations()?;
    if !input.0.is_empty() {
        return Err("unexpected text after the timestamp");
    }
    let unix = days * 86_400 + seconds - offset;
    if !(MIN_SECOND..=MAX_SECOND).contains(&unix) {
        return Err("out of range");
    }
    Ok(())
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    /// Consumes one byte if `want` takes it.
    fn eat(&mut self, want: impl Fn(u8) -> bool) -> bool {
        match self.0.split_first() {
            Some((&first, rest)) if want(first) => {
                self.0 = rest;
                true
            }
            _ => false,
        }
    }

    /// Exactly `n` ASCII digits, as a number in `range`.
    fn number(
        &mut self,
        n: usize,
        range: std::ops::RangeInclusive<i64>,
        what: &'static str,
    ) -> Result<i64, &'static str> {
        let digits = self.0.get(..n).ok_or(what)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(what);
        }
        self.0 = self.0.get(n..).unwrap_or_default();
        let value = digits
            .iter()
            .fold(0_i64, |value, digit| value * 10 + i64::from(digit - b'0'));
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(what)
        }
    }

    fn two_digits_follow(&self) -> bool {
        self.0.len() >= 2 && self.0.iter().take(2).all(u8::is_ascii_digit)
    }

    /// `YYYY-MM-DD`, `YYYYMMDD`, or with a sign and six year digits; the days since 1970-01-01.
    fn date(&mut self) -> Result<i64, &'static str> {
        const YEAR: &str = "a year of four digits, or a sign and six digits, up to 9999";
        let year = match self.peek() {
            Some(sign @ (b'+' | b'-')) => {
                self.0 = self.0.get(1..).unwrap_or_default();
                let year = self.number(6, 0..=9999, YEAR)?;
                if sign == b'-' && year == 0 {
                    return Err("-000000 is not a year");
                }
                if sign == b'-' { -year } else { year }
            }
            _ => self.number(4, 0..=9999, YEAR)?,
        };
        let extended = self.peek() == Some(b'-');
        self.separator(extended, b'-', "the same date separators throughout")?;
        let month = self.number(2, 1..=12, "a month from 01 to 12")?;
        self.separator(extended, b'-', "the same date separators throughout")?;
        let day = self.number(2, 1..=31, "a day from 01 to 31")?;
        if day > days_in_month(year, month) {
            return Err("no such day in that month");
        }
        Ok(days_from_civil(year, month, day))
    }

    /// In the extended form the separator must be there, in the basic form it must not.
    fn separator(
        &mut self,
        extended: bool,
        byte: u8,
        what: &'static str,
    ) -> Result<(), &'static str> {
        match (extended, self.eat(|b| b == byte)) {
            (true, true) | (false, false) => Ok(()),
            _ => Err(what),
        }
    }

    /// `HH`, `HH:MM`, `HH:MM:SS[.fff]` or their basic forms; the seconds since midnight. A leap
    /// second, `60`, is read as `59`.
    fn time(&mut self) -> Result<i64, &'static str> {
        let hour = self.number(2, 0..=23, "an hour from 00 to 23")?;
        let extended = self.peek() == Some(b':');
        if !self.next_unit(extended) {
            return Ok(hour * 3600);
        }
        let minute = self.number(2, 0..=59, "minutes from 00 to 59")?;
        if !self.next_unit(extended) {
            return Ok(hour * 3600 + minute * 60);
        }
        let second = self.number(2, 0..=60, "seconds from 00 to 60")?.min(59);
        self.fraction()?;
        Ok(hour * 3600 + minute * 60 + second)
    }

    /// Whether another unit of a time follows: after `:` in the extended form, as two digits in
    /// the basic one.
    fn next_unit(&mut self, extended: bool) -> bool {
        if extended {
            self.eat(|b| b == b':')
        } else {
            self.two_digits_follow()
        }
    }

    /// `.` or `,` and one to nine digits; whether it is one half or more.
    fn fraction(&mut self) -> Result<bool, &'static str> {
        if !self.eat(|b| matches!(b, b'.' | b',')) {
            return Ok(false);
        }
        let digits = self
            .0
            .iter()
            .take(9)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            return Err("digits after the decimal point");
        }
        let half = self.0.first().is_some_and(|&b| b >= b'5');
        self.0 = self.0.get(digits..).unwrap_or_default();
        Ok(half)
    }

    /// `Z`, or `±HH[:MM[:SS[.fff]]]` (or basic); the offset in seconds east of UTC.
    fn offset(&mut self) -> Result<i64, &'static str> {
        if self.eat(|b| matches!(b, b'Z' | b'z')) {
            return Ok(0);
        }
        let (sign, hours, minutes, extended) = self.numeric_offset()?;
        let mut seconds = hours * 3600;
        if let Some(minutes) = minutes {
            seconds += minutes * 60;
            if self.next_unit(extended) {
                seconds += self.number(2, 0..=59, "offset seconds from 00 to 59")?;
                // jiff rounds a fraction of a second to the nearest second.
                if self.fraction()? {
                    seconds += 1;
                }
            }
        }
        if seconds > MAX_OFFSET {
            return Err("an offset of at most 25:59:59");
        }
        Ok(sign * seconds)
    }

    /// `±HH` and, if given, `MM` of an offset: sign, hours, minutes, and whether `:` separates.
    fn numeric_offset(&mut self) -> Result<(i64, i64, Option<i64>, bool), &'static str> {
        let sign = match self.peek() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err("an offset, Z or such as +01:00"),
        };
        self.0 = self.0.get(1..).unwrap_or_default();
        let hours = self.number(2, 0..=25, "offset hours from 00 to 25")?;
        let extended = self.peek() == Some(b':');
        if !self.next_unit(extended) {
            return Ok((sign, hours, None, extended));
        }
        let minutes = self.number(2, 0..=59, "offset minutes from 00 to 59")?;
        Ok((sign, hours, Some(minutes), extended))
    }

    /// RFC 9557's bracketed suffixes: first, optionally, a time zone (`[Europe/Paris]`,
    /// `[+01:00]`, which jiff reads and then ignores for a timestamp), then `[key=value]` ones,
    /// none of them marked critical (`[!u-ca=iso8601]`), which jiff does not support.
    fn annotations(&mut self) -> Result<(), &'static str> {
        const ANNOTATION: &str = "an annotation such as [Europe/Paris] or [u-ca=iso8601]";
        let before = self.0;
        if !self.eat(|b| b == b'[') {
            return Ok(());
        }
        self.eat(|b| b == b'!');
        if matches!(self.peek(), Some(b'+' | b'-')) {
            let (_, _, minutes, _) = self.numeric_offset()?;
            if minutes.is_some() && self.peek() == Some(b':') {
                return Err("an offset in a time zone annotation has no seconds");
            }
            self.close(ANNOTATION)?;
        } else {
            self.time_zone_name(ANNOTATION)?;
            if self.peek() == Some(b'=') {
                // Not a time zone but the first key=value annotation: read it as one.
                self.0 = before;
            } else {
                while self.eat(|b| b == b'/') {
                    self.time_zone_name(ANNOTATION)?;
                }
                self.close(ANNOTATION)?;
            }
        }
        while self.eat(|b| b == b'[') {
            let critical = self.eat(|b| b == b'!');
            if !self.eat(|b| matches!(b, b'_' | b'a'..=b'z')) {
                return Err(ANNOTATION);
            }
            while self.eat(|b| matches!(b, b'_' | b'-' | b'0'..=b'9' | b'a'..=b'z')) {}
            if !self.eat(|b| b == b'=') {
                return Err(ANNOTATION);
            }
            loop {
                if !self.eat(|b| b.is_ascii_alphanumeric()) {
                    return Err(ANNOTATION);
                }
                while self.eat(|b| b.is_ascii_alphanumeric()) {}
                if !self.eat(|b| b == b'-') {
                    break;
                }
            }
            self.close(ANNOTATION)?;
            if critical {
                return Err("a critical annotation ([!...]), which is not supported");
            }
        }
        Ok(())
    }

    /// One part of an IANA time zone name.
    fn time_zone_name(&mut self, what: &'static str) -> Result<(), &'static str> {
        if !self.eat(|b| matches!(b, b'_' | b'.' | b'A'..=b'Z' | b'a'..=b'z')) {
            return Err(what);
        }
        while self.eat(
            |b| matches!(b, b'_' | b'.' | b'+' | b'-' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z'),
        ) {}
        Ok(())
    }

    fn close(&mut self, what: &'static str) -> Result<(), &'static str> {
        if self.eat(|b| b == b']') {
            Ok(())
        } else {
            Err(what)
        }
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar: whole 400-year eras
/// (146097 days each) from 0000-03-01, then the day within the era, counting years from March
/// so that the leap day falls at the end.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719468: the days from 0000-03-01 to 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}
